"""Every workaround for a bug or gap in Keras, keras_hub or TensorFlow: the
one module that touches private attributes of its dependencies. Each names
the issue or release it works around, and a canary in
`tests/test_upstream.py` that fails once upstream is fixed."""


def transformer_encoder_sublayers(encoder):
    """The weight-holding sublayers of a keras_hub `TransformerEncoder` (or
    a `LinformerEncoder`), for `LinformerBackbone.from_roberta`: a dict of
    `attention`, `attention_norm`, `intermediate_dense`, `output_dense` and
    `feedforward_norm`.

    keras_hub (0.32) keeps them in private attributes, with no issue asking
    for accessors yet. The canary
    `test_keras_hub_transformer_encoder_sublayers_are_private` fails when
    keras_hub renames them or makes them public.
    """
    return {
        "attention": encoder._self_attention_layer,
        "attention_norm": encoder._self_attention_layer_norm,
        "intermediate_dense": encoder._feedforward_intermediate_dense,
        "output_dense": encoder._feedforward_output_dense,
        "feedforward_norm": encoder._feedforward_layer_norm,
    }


def symbolic_build(model, data_spec):
    """Creates a compiled model's loss and metric variables (and any
    unbuilt layer) from its data's element spec, as `fit` does, in the
    strategy's scope.

    `fit` fails under `MultiWorkerMirroredStrategy` on dict batches
    (keras-team/keras issues 20585 and 20329), so `training.multi_worker`
    has its own loop, and Keras (3.15) has no public way to do this. The
    canary `test_keras_fit_fails_under_multi_worker_mirrored_strategy`
    fails once `fit` works there: delete this and the loop then.
    """
    model._symbolic_build(data_batch=data_spec)


def replace_gradient_clipping(cls):
    """Class decorator for a Keras optimizer (or a mixin of one): Keras'
    clipping (`clipnorm`, `global_clipnorm`, `clipvalue`) goes through
    `cls.clip_gradients_globally(self, grads, keras_clip)`, where
    `keras_clip(grads)` is Keras' own clipping.

    Under a `tf.distribute` strategy, Keras (3.15, TensorFlow backend)
    clips each replica's share of the gradient before the all-reduce
    (tensorflow/tensorflow issue 33929), in the private `_clip_gradients`.
    The canary `test_keras_clips_each_replicas_share` fails the day Keras
    clips the sum: delete this and `DistributedClipping` then.
    """

    def _clip_gradients(self, grads):
        return self.clip_gradients_globally(
            grads, super(cls, self)._clip_gradients
        )

    cls._clip_gradients = _clip_gradients
    return cls


def fill_preset_kwargs(fill):
    """Class decorator for a keras_hub `Preprocessor`: made by `from_preset`
    from a preset without a saved preprocessor config, it gets the kwargs
    `fill(backbone_config, kwargs)`, after keras_hub filled the tokenizer.

    keras_hub (0.32) fills them in the private classmethod
    `Preprocessor._add_missing_kwargs` (no issue asks for a public hook
    yet), packing to `sequence_length=512` whatever the backbone's n. The
    canary `test_keras_hub_preprocessor_ignores_the_backbone_length` fails
    once keras_hub packs to the backbone's length by itself.
    """

    def decorate(cls):
        def _add_missing_kwargs(klass, loader, kwargs):
            kwargs = super(cls, klass)._add_missing_kwargs(loader, kwargs)
            return fill(loader.config["config"], kwargs)

        cls._add_missing_kwargs = classmethod(_add_missing_kwargs)
        return cls

    return decorate


def add_special_token(tokenizer, token, name):
    """Declares `token` a special token of a keras_hub tokenizer under
    `name`, as keras_hub's own tokenizers do before `super().__init__`.

    keras_hub (0.32) does this in the private `Tokenizer._add_special_token`
    only; no upstream issue asks for a public one yet. The canary
    `test_keras_hub_tokenizer_special_tokens_are_private` fails once it is.
    """
    tokenizer._add_special_token(token, name)


def assetless_tokenizer(cls):
    """Class decorator for a keras_hub tokenizer with no asset files: no-op
    `save_assets` and `load_preset_assets`, so that presets work.

    keras_hub 0.32's `ByteTokenizer` lacks `save_assets`, and the
    `load_preset_assets` it inherits fails without `file_assets`. The
    canaries `test_keras_hub_byte_tokenizer_*` fail once it saves and
    loads: delete this then.
    """

    def save_assets(self, dir_path):
        pass

    def load_preset_assets(self, preset):
        pass

    cls.save_assets = save_assets
    cls.load_preset_assets = load_preset_assets
    return cls
