"""Layerwise sharing: one `SequenceProjection` held by several layers stays
one object, so one E, when the layers' configs are read back.

A layer writes the projection it shares into its config as plain data: the
nested config of `keras.saving.serialize_keras_object` (as keras_hub's
`MaskedLMHead` writes its `token_embedding`) and a share key naming the
object. Keras's `.keras` loading would re-share a nested object by itself,
but `model_from_json` and `clone_model` read each layer's config on its own,
with nothing that spans the model. So the sharing is re-created from the
configs: the layers of one model have unique names, so the first layer that
reads a share key creates the projection and the model's other layers reuse
it, while a layer name that comes again under the same key is a new read of
the configs (a second load or clone), which gets a projection of its own. A
clone therefore never shares the original's E.

Example:

>>> from keras_linformer.layers import SequenceProjection
>>> shared = SequenceProjection(sequence_length=16, projected_dim=4)
>>> config = serialize_shared_projection(shared)
>>> sorted(config)
['config', 'share_key']
>>> first = deserialize_shared_projection(config, "attention_0")
>>> first is deserialize_shared_projection(config, "attention_1")
True
>>> first is deserialize_shared_projection(config, "attention_0")
False
"""

import threading
import uuid
import weakref

import keras

# projection -> its share key. Weak, as `_READ`: neither keeps a discarded
# model's projection alive.
_KEYS = weakref.WeakKeyDictionary()
# share key -> (the projection last read under it, the names of the layers
# that took it).
_READ = {}
_LOCK = threading.Lock()


def serialize_shared_projection(projection):
    """Plain-data config of a shared projection, with its share key."""
    with _LOCK:
        key = _KEYS.setdefault(projection, uuid.uuid4().hex)
    return {
        "config": keras.saving.serialize_keras_object(projection),
        "share_key": key,
    }


def deserialize_shared_projection(config, layer_name):
    """The projection for the layer `layer_name`: the one that the other
    layers of its model got from the same share key, or a new one."""
    if not isinstance(config, dict):
        return config  # Already an object, or None.
    if set(config) != {"config", "share_key"}:
        # A bare nested config: a projection of this layer's own.
        return keras.saving.deserialize_keras_object(config)
    key = config["share_key"]
    with _LOCK:
        projection, takers = _READ.get(key, (lambda: None, set()))
        projection = projection()
        if projection is None or layer_name in takers:
            projection = keras.saving.deserialize_keras_object(config["config"])
            takers = set()
            _READ[key] = (weakref.ref(projection), takers)
        takers.add(layer_name)
        return projection
