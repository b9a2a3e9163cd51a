"""Every workaround for a bug or gap in Keras, keras_hub or TensorFlow.

This is the one module of the package that touches private attributes of
its dependencies. Each function names the upstream issue or release it
works around; `tests/test_upstream.py` holds a canary for each, a test that
fails once upstream is fixed, so that the workaround can be deleted.
"""


def transformer_encoder_sublayers(encoder):
    """The weight-holding sublayers of a keras_hub `TransformerEncoder`.

    keras_hub (0.32) exposes no public accessors for the sublayers of
    `keras_hub.layers.TransformerEncoder`: they are the private attributes
    `_self_attention_layer`, `_self_attention_layer_norm`,
    `_feedforward_intermediate_dense`, `_feedforward_output_dense` and
    `_feedforward_layer_norm`, which keras_hub's own checkpoint converters
    (`keras_hub/src/utils/transformers/convert_*.py`) read as well; no
    upstream issue asks for accessors yet. `LinformerBackbone.from_roberta`
    copies RoBERTa's weights through this function, the one place that
    reads them; `LinformerEncoder` keeps the same names, so it answers too.
    The canary in tests/test_upstream.py fails when keras_hub renames them.

    Returns:
        A dict: `attention` (a `MultiHeadAttention`, or for a
        `LinformerEncoder` its `LinformerAttention`, both with
        `query_dense`, `key_dense`, `value_dense` and `output_dense`),
        `attention_norm`, `intermediate_dense`, `output_dense`,
        `feedforward_norm`.
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
    unbuilt layer) from the element spec of its data, as `fit` does before
    its first step.

    Keras (3.15) has no public way to do this without running `fit`, and
    `fit` is what fails under `MultiWorkerMirroredStrategy` on nested
    (dict) batches (keras-team/keras issues 20585 and 20329), so
    `keras_linformer.training.multi_worker` trains with its own loop and
    calls the private `Model._symbolic_build`. The canary
    `test_keras_fit_fails_under_multi_worker_mirrored_strategy` (in
    tests/test_upstream.py) fails once `fit` works there: delete this
    function and the loop then.
    Call it in the strategy's scope.
    """
    model._symbolic_build(data_batch=data_spec)


def replace_gradient_clipping(cls):
    """Class decorator for a Keras optimizer (or a mixin of one): Keras'
    clipping (`clipnorm`, `global_clipnorm`, `clipvalue`) goes through
    `cls.clip_gradients_globally(self, grads, keras_clip)`, where
    `keras_clip(grads)` is Keras' own clipping.

    Under a `tf.distribute` strategy, Keras (3.15, TensorFlow backend)
    clips each replica's share of the gradient before the replicas' sum
    (`BaseOptimizer._backend_apply_gradients` calls `_clip_gradients`, then
    `TFOptimizer._backend_update_step` all-reduces), which the TensorFlow
    team calls "usually wrong" (tensorflow/tensorflow issue 33929). The
    private `_clip_gradients` is the one place Keras clips and there is no
    public hook between the all-reduce and the update, so this decorator
    overrides it. The canary
    `tests/test_upstream.py::test_keras_clips_each_replicas_share` fails
    the day Keras clips the summed gradient: delete this function and
    `keras_linformer.training.optimizers.DistributedClipping` then.
    """

    def _clip_gradients(self, grads):
        return self.clip_gradients_globally(
            grads, super(cls, self)._clip_gradients
        )

    cls._clip_gradients = _clip_gradients
    return cls


def fill_preset_kwargs(fill):
    """Class decorator for a keras_hub `Preprocessor`: when `from_preset`
    makes it from a preset without a saved preprocessor config, the
    constructor kwargs are `fill(backbone_config, kwargs)` (after keras_hub
    has filled in the tokenizer), where `backbone_config` is the preset's
    backbone config dict.

    keras_hub (0.32) fills these kwargs in the private classmethod
    `Preprocessor._add_missing_kwargs(loader, kwargs)` (its docstring:
    "This is a private method hit when loading a preprocessing layer that
    was not directly saved in the preset") and has no public hook; its own
    preprocessors pack to a fixed `sequence_length=512` whatever the
    backbone's n. No upstream issue asks for a hook yet. The canary
    `test_keras_hub_preprocessor_ignores_the_backbone_length` (in
    tests/test_upstream.py) fails once keras_hub packs to the backbone's
    length by itself.
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
    `name`: sets `tokenizer.{name}` and `tokenizer.{name}_id` and lists the
    token in `special_tokens`, as keras_hub's own tokenizers do in their
    constructors, before `super().__init__`.

    keras_hub (0.32) does this in the private
    `Tokenizer._add_special_token(token, name)` and has no public
    equivalent; no upstream issue asks for one yet. The canary
    `test_keras_hub_tokenizer_special_tokens_are_private` (in
    tests/test_upstream.py) fails once keras_hub makes it public.
    """
    tokenizer._add_special_token(token, name)


def assetless_tokenizer(cls):
    """Class decorator for a keras_hub tokenizer with no asset files (a
    byte-level one): `save_assets` and `load_preset_assets` do nothing, so
    that `save_to_preset` and `from_preset` work.

    keras_hub 0.32's `ByteTokenizer` cannot be saved in a preset: the
    preset saver calls `tokenizer.save_assets`, which it lacks, and the
    loader calls `load_preset_assets`, which it inherits from `Tokenizer`
    and which fails for a tokenizer without `file_assets`. The canaries
    `tests/test_upstream.py::test_keras_hub_byte_tokenizer_*` fail once
    keras_hub's `ByteTokenizer` saves and loads: delete this then.
    """

    def save_assets(self, dir_path):
        pass

    def load_preset_assets(self, preset):
        pass

    cls.save_assets = save_assets
    cls.load_preset_assets = load_preset_assets
    return cls
