"""A stand-in for `tensorflow_model_server`, for tests (no Docker here).

Run as a script in a fresh interpreter:

    python fake_tf_serving.py CONFIG.json

CONFIG maps model names to base paths, like TF Serving's `models.config`
(and may set `"poll_seconds"`). Before TensorFlow is imported, an import
hook makes keras, keras_hub, keras_linformer and the Python part of
tensorflow_text unimportable; the tensorflow-text kernels are registered
from their shared libraries with `tf.load_op_library`, which is what the
model server links in.

Models run on the server's own execution path: the SavedModel is loaded
with the TF1 loader (`tf.compat.v1.saved_model.loader.load`, the "serve"
tag) into a Session, and a request runs the SignatureDef's tensor names
through a callable made from `CallableOptions` (`Session::RunCallable`),
which, like the C++ server, does not check shapes in Python: a wrong rank
fails inside the graph. Before that, the request is checked against the
SignatureDef as `predict_util.cc` does (input aliases, dtypes), and gRPC
outputs are written as typed `*_val` fields (`Tensor::AsProtoField`, the
server's default).

Like TF Serving (`file_system_storage_path_source`, the "latest" version
policy), the server polls each base path and loads the newest integer
version directory; loading replays its `assets.extra/
tf_serving_warmup_requests`, and a failing record fails the load, so that
version is never served (an older one stays). It serves

- REST `POST /v1/models/NAME[/versions/N]:predict`, with the JSON request
  and response rules of TF Serving's `json_tensor.cc` (row "instances" and
  columnar "inputs"; `{"b64": ...}` strings; errors as HTTP 400
  `{"error": ...}`), and `GET /v1/models/NAME` (version status);
- gRPC `PredictionService/Predict`.

It prints one JSON line (ports, versions, warmup results, blocked imports)
and serves until stdin is closed.
"""

import base64
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys

BLOCKED = (
    "keras",
    "keras_hub",
    "keras_linformer",
    "tf_keras",
    "tensorflow_text",
)
BLOCKED_ATTEMPTS = []


class _BlockedLoader(importlib.abc.Loader):
    def create_module(self, spec):
        BLOCKED_ATTEMPTS.append(spec.name)
        raise ImportError(f"{spec.name} is not importable in this process")

    def exec_module(self, module):
        raise ImportError(f"{module.__name__} is not importable")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            # No origin: TensorFlow's probe for keras sees "not installed".
            return importlib.machinery.ModuleSpec(name, _BlockedLoader())
        return None


def _tf_text_op_libraries():
    spec = importlib.util.find_spec("tensorflow_text")
    if spec is None:
        return []
    ops_dir = os.path.join(spec.submodule_search_locations[0], "python", "ops")
    return sorted(
        os.path.join(ops_dir, f)
        for f in os.listdir(ops_dir)
        if f.endswith(".so")
    )


_TEXT_OPS = _tf_text_op_libraries()
sys.meta_path.insert(0, _Blocker())

import http.server  # noqa: E402
import socketserver  # noqa: E402
import threading  # noqa: E402
from concurrent import futures  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

for _library in _TEXT_OPS:
    tf.load_op_library(_library)

import grpc  # noqa: E402
from tensorflow.core.framework import tensor_pb2  # noqa: E402
from tensorflow.core.protobuf import config_pb2  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: E402


class ServingError(Exception):
    """An error TF Serving returns to the client (not a crash)."""

    def __init__(self, message, code="INVALID_ARGUMENT"):
        super().__init__(message)
        self.code = code


# === Models ===


class LoadError(Exception):
    """A version that the server refuses to load."""


def integer_versions(base_path):
    """The versions TF Serving sees: child directories named by integers."""
    if not os.path.isdir(base_path):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(base_path)
        if entry.isdigit() and os.path.isdir(os.path.join(base_path, entry))
    )


class Model:
    """One loaded version: a Session on the SavedModel's "serve" graph."""

    def __init__(self, name, base_path, version):
        self.name = name
        self.version = version
        self.path = os.path.join(base_path, str(version))
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        try:
            with self.graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(
                    self.session, ["serve"], self.path
                )
        except Exception as e:  # any loader failure refuses the version
            raise LoadError(f"Failed to load {self.path}: {e}") from None
        self.signatures = {
            key: value
            for key, value in meta_graph.signature_def.items()
            if not key.startswith("__")  # `__saved_model_init_op`
        }
        self._callables = {}
        self.warmup = self.replay_warmup()

    def input_dtypes(self, signature_name):
        signature = self.signature(signature_name)
        return {
            alias: tf.as_dtype(info.dtype)
            for alias, info in signature.inputs.items()
        }

    def signature(self, signature_name):
        signature_name = signature_name or "serving_default"
        if signature_name not in self.signatures:
            raise ServingError(
                f'Serving signature name: "{signature_name}" not found in '
                "signature def",
                code="FAILED_PRECONDITION",
            )
        return self.signatures[signature_name]

    def _callable(self, signature_name, feeds, fetches):
        key = (signature_name, tuple(feeds), tuple(fetches))
        if key not in self._callables:
            options = config_pb2.CallableOptions()
            options.feed.extend(feeds)
            options.fetch.extend(fetches)
            # `Session::MakeCallable`: feeds go to the graph unchecked.
            self._callables[key] = self.session._make_callable_from_options(
                options
            )
        return self._callables[key]

    def predict(self, signature_name, inputs):
        """Runs a signature on `{alias: np.ndarray}` as TF Serving does."""
        signature = self.signature(signature_name)
        expected = dict(signature.inputs)
        if len(inputs) != len(expected):
            raise ServingError(
                f"input size does not match signature: {len(inputs)}!="
                f"{len(expected)} len({{{','.join(sorted(inputs))}}}) != "
                f"len({{{','.join(sorted(expected))}}}). Sent extra: "
                f"{{{','.join(sorted(set(inputs) - set(expected)))}}}. "
                "Missing but required: "
                f"{{{','.join(sorted(set(expected) - set(inputs)))}}}."
            )
        feeds, values = [], []
        for i, alias in enumerate(sorted(inputs)):
            if alias not in expected:
                raise ServingError(
                    f"input tensor alias not found in signature: {alias}. "
                    "Inputs expected to be in the set "
                    f"{{{','.join(sorted(expected))}}}."
                )
            value = inputs[alias]
            dtype = (
                tf.string if value.dtype == object else tf.as_dtype(value.dtype)
            )
            want = tf.as_dtype(expected[alias].dtype)
            if dtype != want:
                raise ServingError(
                    f"Expects arg[{i}] to be {want.name} but {dtype.name} is "
                    "provided"
                )
            feeds.append(expected[alias].name)
            values.append(value)
        aliases = sorted(signature.outputs)
        fetches = [signature.outputs[a].name for a in aliases]
        run = self._callable(signature_name, feeds, fetches)
        try:
            outputs = run(*values)
        except tf.errors.OpError as e:
            raise ServingError(
                e.message, code=_CODE_NAMES.get(e.error_code, "UNKNOWN")
            ) from None
        return dict(zip(aliases, outputs))

    def replay_warmup(self):
        """Runs every warmup record; the first failure fails the load."""
        path = os.path.join(
            self.path, "assets.extra", "tf_serving_warmup_requests"
        )
        results = []
        if not os.path.exists(path):
            return results
        try:
            records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
        except tf.errors.OpError as e:
            raise LoadError(f"Failed to read warmup data {path}: {e}") from None
        for record in records:
            log = prediction_log_pb2.PredictionLog()
            log.ParseFromString(record)
            if log.WhichOneof("log_type") != "predict_log":
                raise LoadError(
                    "Unsupported log_type for warmup: "
                    f"{log.WhichOneof('log_type')}"
                )
            request = log.predict_log.request
            try:
                inputs = {
                    k: tf.make_ndarray(v) for k, v in request.inputs.items()
                }
                outputs = self.predict(
                    request.model_spec.signature_name, inputs
                )
            except ServingError as e:
                raise LoadError(f"Failed to warm up {self.path}: {e}") from None
            results.append(
                {
                    "signature": request.model_spec.signature_name,
                    "model": request.model_spec.name,
                    "inputs": sorted(request.inputs),
                    "output_shapes": {
                        k: list(v.shape) for k, v in outputs.items()
                    },
                }
            )
        return results


_CODE_NAMES = {
    code: name
    for name, code in (
        ("INVALID_ARGUMENT", tf.errors.INVALID_ARGUMENT),
        ("FAILED_PRECONDITION", tf.errors.FAILED_PRECONDITION),
        ("NOT_FOUND", tf.errors.NOT_FOUND),
        ("OUT_OF_RANGE", tf.errors.OUT_OF_RANGE),
        ("RESOURCE_EXHAUSTED", tf.errors.RESOURCE_EXHAUSTED),
        ("INTERNAL", tf.errors.INTERNAL),
        ("UNIMPLEMENTED", tf.errors.UNIMPLEMENTED),
    )
}

# TensorProto typed value fields, as `Tensor::AsProtoField` writes them.
_PROTO_FIELDS = {
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int32: "int_val",
    tf.int16: "int_val",
    tf.int8: "int_val",
    tf.uint8: "int_val",
    tf.int64: "int64_val",
    tf.bool: "bool_val",
    tf.string: "string_val",
}


def as_proto_field(array):
    """A TensorProto with typed `*_val` fields (never `tensor_content`)."""
    dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
    proto = tensor_pb2.TensorProto(
        dtype=dtype.as_datatype_enum,
        tensor_shape=tf.TensorShape(array.shape).as_proto(),
    )
    getattr(proto, _PROTO_FIELDS[dtype]).extend(array.ravel().tolist())
    return proto


# === JSON (tensorflow_serving/util/json_tensor.cc) ===

_JSON_DTYPES = {
    tf.int32: "int",
    tf.int64: "int",
    tf.float32: "float",
    tf.float64: "float",
    tf.string: "string",
    tf.bool: "bool",
}


def _is_b64(value):
    return (
        isinstance(value, dict)
        and len(value) == 1
        and "b64" in value
        and isinstance(value["b64"], str)
    )


def _dense_shape(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _leaf(value, dtype):
    kind = _JSON_DTYPES.get(dtype)
    if _is_b64(value):
        if dtype != tf.string:
            raise ServingError(
                f"JSON Value: {value} Type: Object is not of expected type: {dtype.name}"
            )
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise ServingError("Unable to base64 decode") from None
    if kind == "int":
        limit = 2**31 if dtype == tf.int32 else 2**63
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not -limit <= value < limit
        ):
            raise ServingError(
                f"JSON Value: {json.dumps(value)} is not of expected type: {dtype.name}"
            )
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ServingError(
                f"JSON Value: {json.dumps(value)} is not of expected type: {dtype.name}"
            )
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise ServingError(
                f"JSON Value: {json.dumps(value)} is not of expected type: {dtype.name}"
            )
        return value.encode("utf-8", errors="surrogatepass")
    if kind == "bool":
        if not isinstance(value, bool):
            raise ServingError(
                f"JSON Value: {json.dumps(value)} is not of expected type: {dtype.name}"
            )
        return value
    raise ServingError(
        f"Conversion of JSON Value to type {dtype.name} unsupported"
    )


def _fill(value, shape, level, dtype, out):
    if not isinstance(value, list):
        if level != len(shape):
            raise ServingError(
                f"JSON Value: {json.dumps(value)} found at incorrect level: "
                f"{level + 1} in the JSON DOM. Expected at level: {len(shape)}"
            )
        if isinstance(value, dict) and not _is_b64(value):
            raise ServingError(
                f"JSON Value: {json.dumps(value)} Type: Object is not of expected type: {dtype.name}"
            )
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise ServingError(
            f"Encountered list at unexpected level: {level} expected < {len(shape)}"
        )
    if len(value) != shape[level]:
        raise ServingError(
            f"Encountered list at unexpected size: {len(value)} at level: "
            f"{level} expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, shape, level + 1, dtype, out)


def _to_array(values, shape, dtype):
    if dtype == tf.string:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    return np.array(values, dtype=dtype.as_numpy_dtype).reshape(shape)


def _json_tensor(value, dtype):
    shape = _dense_shape(value)
    values = []
    _fill(value, shape, 0, dtype, values)
    return _to_array(values, shape, dtype)


def decode_predict_request(text, input_dtypes_for):
    """`(signature_name, {name: np.ndarray}, format)` from a JSON body."""
    if not text:
        raise ServingError("JSON Parse error: The document is empty")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ServingError(f"JSON Parse error: {e}") from None
    if not isinstance(doc, dict):
        raise ServingError("JSON Value: Is not object")
    signature_name = doc.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise ServingError("'signature_name' key must be a string value.")
    dtypes = input_dtypes_for(signature_name)
    if "instances" in doc and "inputs" in doc:
        raise ServingError(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise ServingError("Excepting 'instances' to be an list/array")
        if not instances:
            raise ServingError("No values in 'instances' array")
        return signature_name, _from_instances(instances, dtypes), "row"
    if "inputs" in doc:
        return signature_name, _from_inputs(doc["inputs"], dtypes), "columnar"
    raise ServingError("Missing 'inputs' or 'instances' key")


def _is_object(value):
    return isinstance(value, dict) and not _is_b64(value)


def _from_instances(instances, dtypes):
    names = sorted(dtypes)
    if not _is_object(instances[0]) and len(names) > 1:
        raise ServingError(
            "instances is a plain list, but expecting list of objects as "
            "multiple input tensors required as per tensorinfo_map"
        )
    objects = _is_object(instances[0])
    columns = {}
    shapes = {}
    for i, item in enumerate(instances):
        if objects:
            if not _is_object(item):
                raise ServingError(
                    f"Expecting object but got list at item {i} of input list"
                )
            if set(item) != set(names):
                raise ServingError(
                    f"Failed to process element: {i} of 'instances' list. JSON "
                    f"object: {json.dumps(item)} must only have keys: {','.join(names)}"
                )
            pairs = item.items()
        else:
            if _is_object(item):
                raise ServingError(
                    f"Expecting value/list but got object at item {i} of input list"
                )
            pairs = [(names[0], item)]
        for name, value in pairs:
            try:
                array = _json_tensor(value, dtypes[name])
            except ServingError as e:
                raise ServingError(
                    f"Failed to process element: {i} key: {name} of 'instances' list. Error: {e}"
                ) from None
            if name in shapes and shapes[name] != array.shape:
                raise ServingError(
                    f"Expecting shape {list(shapes[name])} but got: {list(array.shape)}"
                )
            shapes[name] = array.shape
            columns.setdefault(name, []).append(array)
    return {
        name: np.stack(arrays)
        if dtypes[name] != tf.string
        else _stack_strings(arrays)
        for name, arrays in columns.items()
    }


def _stack_strings(arrays):
    out = np.empty((len(arrays),) + arrays[0].shape, dtype=object)
    for i, a in enumerate(arrays):
        out[i, ...] = a
    return out


def _from_inputs(value, dtypes):
    names = sorted(dtypes)
    if not _is_object(value):
        if len(names) > 1:
            raise ServingError(
                "inputs is a plain value/list, but expecting an object as "
                "multiple input tensors required as per tensorinfo_map"
            )
        return {names[0]: _json_tensor(value, dtypes[names[0]])}
    out = {}
    for name in names:
        if name not in value:
            raise ServingError(
                f"Missing named input: {name} in 'inputs' object."
            )
        out[name] = _json_tensor(value[name], dtypes[name])
    return out


def _json_value(value, name):
    if isinstance(value, bytes):
        if name.endswith("_bytes"):
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8")
    if isinstance(value, np.float32):
        return _write_decimal(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _write_decimal(value):
    """A float32 as TF Serving's WriteDecimal prints it (as a Python float
    whose repr is that text): six significant digits, or nine where six do
    not round-trip."""
    if not np.isfinite(value):
        return float(value)
    text = f"{value:.6g}"
    if np.float32(float(text)) != value:
        text = f"{value:.9g}"
    return float(text)


def _nested(array, name):
    if not isinstance(array, np.ndarray):
        return _json_value(array, name)
    if array.ndim == 0:
        return _json_value(array[()], name)
    return [_nested(a, name) for a in array]


def encode_predict_response(outputs, fmt):
    """TF Serving's JSON for `{name: np.ndarray}` in the request's format."""
    if not outputs:
        raise ServingError("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if fmt == "row":
        batch = None
        for name in names:
            array = outputs[name]
            if array.ndim == 0:
                raise ServingError(
                    f"Tensor name: {name} has no shape information "
                )
            if array.shape[0] < 1:
                raise ServingError(
                    f"Tensor name: {name} has invalid batch size: {array.shape[0]}"
                )
            if batch is not None and batch != array.shape[0]:
                raise ServingError(
                    f"Tensor name: {name} has inconsistent batch size: "
                    f"{array.shape[0]} expecting: {batch}"
                )
            batch = array.shape[0]
        rows = []
        for i in range(batch):
            if len(names) > 1:
                rows.append({n: _nested(outputs[n][i], n) for n in names})
            else:
                rows.append(_nested(outputs[names[0]][i], names[0]))
        return json.dumps({"predictions": rows})
    if len(names) > 1:
        return json.dumps(
            {"outputs": {n: _nested(outputs[n], n) for n in names}}
        )
    return json.dumps({"outputs": _nested(outputs[names[0]], names[0])})


# === Servers ===


class Server:
    """Serves the newest loadable version of each model, polling for new
    ones like `file_system_storage_path_source` (an older version keeps
    serving while a newer one fails to load)."""

    def __init__(self, base_paths):
        self.base_paths = base_paths
        self.models = {}
        # name -> {version: "AVAILABLE" | error message of a refused load}
        self.states = {name: {} for name in base_paths}
        self.lock = threading.Lock()
        self.poll()

    def poll(self):
        for name, base_path in self.base_paths.items():
            versions = integer_versions(base_path)
            if not versions or versions[-1] in self.states[name]:
                continue
            version = versions[-1]
            try:
                model = Model(name, base_path, version)
            except LoadError as e:
                self.states[name][version] = str(e)
                continue
            with self.lock:
                self.models[name] = model
                self.states[name] = {
                    v: state
                    for v, state in self.states[name].items()
                    if state != "AVAILABLE"
                }
                self.states[name][version] = "AVAILABLE"

    def model(self, name, version=None):
        with self.lock:
            model = self.models.get(name)
        if model is None:
            raise ServingError(
                f"Servable not found for request: Latest({name})",
                code="NOT_FOUND",
            )
        if version is not None and version != model.version:
            raise ServingError(
                f"Servable not found for request: Specific({name}, {version})",
                code="NOT_FOUND",
            )
        return model

    def status(self, name):
        """`GET /v1/models/NAME`, as TF Serving's model status API."""
        if name not in self.states:
            raise ServingError(
                f"Could not find any versions of model {name}",
                code="NOT_FOUND",
            )
        entries = []
        for version, state in sorted(self.states[name].items(), reverse=True):
            ok = state == "AVAILABLE"
            entries.append(
                {
                    "version": str(version),
                    "state": "AVAILABLE" if ok else "END",
                    "status": {
                        "error_code": "OK" if ok else "UNKNOWN",
                        "error_message": "" if ok else state,
                    },
                }
            )
        return json.dumps({"model_version_status": entries})

    def rest_predict(self, name, version, body):
        model = self.model(name, version)
        signature_name, inputs, fmt = decode_predict_request(
            body, model.input_dtypes
        )
        outputs = model.predict(signature_name, inputs)
        return encode_predict_response(outputs, fmt)

    def report(self):
        with self.lock:
            models = dict(self.models)
        return {
            "versions": {n: m.version for n, m in models.items()},
            "signatures": {n: sorted(m.signatures) for n, m in models.items()},
            "warmup": {n: m.warmup for n, m in models.items()},
            "load_errors": {
                n: {str(v): e for v, e in states.items() if e != "AVAILABLE"}
                for n, states in self.states.items()
            },
        }


def make_rest_handler(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status, text):
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            prefix = "/v1/models/"
            name = self.path[len(prefix) :]
            if not self.path.startswith(prefix) or not name or "/" in name:
                self._reply(
                    404,
                    json.dumps(
                        {"error": f"Malformed request: GET {self.path}"}
                    ),
                )
                return
            try:
                self._reply(200, server.status(name))
            except ServingError as e:
                self._reply(404, json.dumps({"error": str(e)}))

        def do_POST(self):
            path = self.path
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            prefix = "/v1/models/"
            if not path.startswith(prefix) or not path.endswith(":predict"):
                self._reply(
                    404,
                    json.dumps({"error": f"Malformed request: POST {path}"}),
                )
                return
            parts = path[len(prefix) : -len(":predict")].split("/")
            version = None
            if (
                len(parts) == 3
                and parts[1] == "versions"
                and parts[2].isdigit()
            ):
                version = int(parts[2])
            elif len(parts) != 1:
                self._reply(
                    404,
                    json.dumps({"error": f"Malformed request: POST {path}"}),
                )
                return
            try:
                self._reply(200, server.rest_predict(parts[0], version, body))
            except ServingError as e:
                status = 404 if e.code == "NOT_FOUND" else 400
                self._reply(status, json.dumps({"error": str(e)}))
            except Exception as e:  # a bug here, reported, not a hang
                import traceback

                traceback.print_exc()
                self._reply(500, json.dumps({"error": f"INTERNAL: {e!r}"}))

    return Handler


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, server):
        self.server = server

    def Predict(self, request, context):
        try:
            version = (
                request.model_spec.version.value
                if request.model_spec.HasField("version")
                else None
            )
            model = self.server.model(request.model_spec.name, version)
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            outputs = model.predict(request.model_spec.signature_name, inputs)
        except ServingError as e:
            context.abort(getattr(grpc.StatusCode, e.code), str(e))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = model.name
        response.model_spec.version.value = model.version
        response.model_spec.signature_name = (
            request.model_spec.signature_name or "serving_default"
        )
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(as_proto_field(value))
        return response


class _ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main(config_path):
    with open(config_path) as f:
        config = json.load(f)
    poll_seconds = config.pop("poll_seconds", 1.0)
    server = Server(config)
    stop = threading.Event()

    def poll_forever():
        while not stop.wait(poll_seconds):
            server.poll()

    threading.Thread(target=poll_forever, daemon=True).start()

    http_server = _ThreadingHTTPServer(
        ("127.0.0.1", 0), make_rest_handler(server)
    )
    threading.Thread(target=http_server.serve_forever, daemon=True).start()

    # The model server's limit on messages (`SetMaxMessageSize(kint32max)`).
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        options=[
            ("grpc.max_receive_message_length", 2**31 - 1),
            ("grpc.max_send_message_length", 2**31 - 1),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(server), grpc_server
    )
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()

    report = {
        "rest_port": http_server.server_address[1],
        "grpc_port": grpc_port,
        **server.report(),
        "blocked_imports": BLOCKED_ATTEMPTS,
        "imported_blocked_modules": sorted(
            m for m in sys.modules if m.split(".")[0] in BLOCKED
        ),
        "text_op_libraries": len(_TEXT_OPS),
    }
    print(json.dumps(report), flush=True)
    sys.stdin.read()  # serve until the test closes stdin
    stop.set()
    grpc_server.stop(0)
    http_server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
