"""Every workaround for a bug or gap in Keras, keras_hub or TensorFlow.

This is the one module of the package that touches private attributes of
its dependencies. Each function names the upstream issue or release it
works around; `tests/test_upstream.py` holds a canary for each, a test that
fails once upstream is fixed, so that the workaround can be deleted.
"""
