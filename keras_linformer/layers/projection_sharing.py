"""Layerwise sharing: one `SequenceProjection` held by several layers stays
one object, so one E, when the layers' configs are read back.

A layer's config holds the projection's Keras config and a share key.
`model_from_json` and `clone_model` read each layer's config on its own, so
the first layer that reads a key creates the projection and the model's
other layers (of unique names) reuse it; a layer name that comes again
under the key is a new read (a second load or clone), which gets a
projection of its own, so a clone never shares the original's E.

Example:

>>> from keras_linformer.layers import SequenceProjection
>>> shared = SequenceProjection(sequence_length=16, projected_dim=4)
>>> config = serialize_shared_projection(shared)
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

# projection -> its share key; share key -> (a weak reference to the
# projection last read under it, the names of the layers that took it).
# Neither keeps a discarded model's projection alive.
_KEYS = weakref.WeakKeyDictionary()
_READ = {}
_LOCK = threading.Lock()


def serialize_shared_projection(projection):
    """Plain-data config of a shared projection (or `None`), with its share
    key."""
    if projection is None:
        return None
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


class SharedProjectionMixin:
    """For a layer that takes a `shared_projection`: writes it into the
    config as plain data, and reads it back shared, as described above."""

    def get_config(self):
        config = super().get_config()
        config["shared_projection"] = serialize_shared_projection(
            self.shared_projection
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["shared_projection"] = deserialize_shared_projection(
            config.get("shared_projection"), config.get("name")
        )
        return cls(**config)
