"""Layerwise sharing of one `SequenceProjection` that survives serialization.

Several layers that hold one projection object (the paper's layerwise
sharing) write it into their configs as plain data: the projection's nested
config, as `keras_hub.layers.MaskedLMHead` writes its `token_embedding`, plus
a share key that names the object. Reading the configs back gives the layers
of one model one new projection again, whichever Keras path reads them:
`model_from_json`, `clone_model`, `.keras` files and presets.

Keras's own `ObjectSharingScope` does this only inside `.keras` saving and
loading (`to_json`, `model_from_json` and `clone_model` open no scope), and
it is not public API. So the sharing is re-created here, from the layer
names: within one model every layer name is unique, so the first layer that
reads a key creates the projection, the other layers of that model reuse it,
and a layer name seen again under the same key means the configs are being
read a second time (a second load, a second clone), which starts a new
projection. A clone therefore never shares the original's variables.

Example:

>>> from keras_linformer.layers import SequenceProjection
>>> shared = SequenceProjection(sequence_length=16, projected_dim=4)
>>> config = serialize_shared_projection(shared)
>>> sorted(config)
['config', 'share_key']
"""

import threading
import uuid
import weakref

import keras

# share key -> (weak reference to the projection, names of the layers that
# took it). Weak, so that projections of discarded models are not kept.
_LOADED = {}
_LOCK = threading.Lock()


def serialize_shared_projection(projection):
    """Plain-data config of a shared projection, with its share key."""
    key = getattr(projection, "_share_key", None)
    if key is None:
        key = uuid.uuid4().hex
        projection._share_key = key
    return {
        "config": keras.saving.serialize_keras_object(projection),
        "share_key": key,
    }


def deserialize_shared_projection(config, layer_name):
    """The projection for `layer_name`: the one the other layers of the same
    model got from this share key, or a new one from the nested config."""
    if not isinstance(config, dict):
        return config  # Already an object, or None.
    if set(config) != {"config", "share_key"}:
        # A bare nested config (no share key): one projection for this layer.
        return keras.saving.deserialize_keras_object(config)
    key = config["share_key"]
    with _LOCK:
        entry = _LOADED.get(key)
        projection = entry[0]() if entry else None
        if projection is not None and layer_name not in entry[1]:
            entry[1].add(layer_name)
            return projection
        projection = keras.saving.deserialize_keras_object(config["config"])
        _LOADED[key] = (weakref.ref(projection), {layer_name})
        return projection
