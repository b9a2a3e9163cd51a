"""A TF Serving REST client for exported Linformer models (stdlib only).

TF Serving's REST API takes `POST /v1/models/NAME[/versions/N]:predict`
with a JSON body in one of two forms:

- row ("instances"): a list with one object per example, each holding
  every input of the signature: `{"instances": [{"text": "a"}, ...]}`.
  The response is `{"predictions": [...]}`, one entry per example.
- columnar ("inputs"): one batched value per input:
  `{"inputs": {"text": ["a", "b"]}}`. The response is `{"outputs": ...}`.

Strings that are not valid UTF-8 are sent as `{"b64": "..."}`.

    python examples/serving/rest_client.py --model sst2 "a great movie"
    python examples/serving/rest_client.py --model mlm --format columnar \\
        "the [MASK] sat on the mat"
    python examples/serving/rest_client.py --model mlm \\
        --signature predict_ids --ids "2 9 4 11 3"
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request


def encode_value(value):
    """A JSON-ready value: bytes that are not UTF-8 become {"b64": ...}."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    return value


def _batch_size(inputs):
    sizes = {name: len(values) for name, values in inputs.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"Inputs have different batch sizes: {sizes}")
    return next(iter(sizes.values()), 0)


def row_request(inputs, signature_name=None):
    """The "instances" body: one object per example.

    Args:
        inputs: dict of input name to a batch (a list, or anything with
            `tolist()`), e.g. `{"text": ["a", "b"]}`.
        signature_name: e.g. `"predict_ids"`; default `serving_default`.
    """
    inputs = {name: encode_value(values) for name, values in inputs.items()}
    instances = [
        {name: values[i] for name, values in inputs.items()}
        for i in range(_batch_size(inputs))
    ]
    body = {"instances": instances}
    if signature_name:
        body["signature_name"] = signature_name
    return body


def columnar_request(inputs, signature_name=None):
    """The "inputs" body: one batched value per input name."""
    body = {
        "inputs": {
            name: encode_value(values) for name, values in inputs.items()
        }
    }
    if signature_name:
        body["signature_name"] = signature_name
    return body


def _decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def parse_response(body, output_name="output"):
    """`{output name: batched nested list}` from either response form.

    A signature with one output gets no names in TF Serving's response;
    it is returned under `output_name`.
    """
    if "error" in body:
        raise ServingError(body["error"])
    if "predictions" in body:
        rows = _decode(body["predictions"])
        if rows and isinstance(rows[0], dict):
            return {name: [row[name] for row in rows] for name in rows[0]}
        return {output_name: rows}
    if "outputs" in body:
        outputs = _decode(body["outputs"])
        if isinstance(outputs, dict):
            return outputs
        return {output_name: outputs}
    raise ValueError(f"Not a TF Serving predict response: {list(body)}")


class ServingError(RuntimeError):
    """TF Serving answered with an error (e.g. an InvalidArgument)."""


def predict_url(host, port, model, version=None):
    version_part = f"/versions/{version}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model}{version_part}:predict"


def post(url, body, timeout=30.0):
    """POSTs `body` as JSON; returns the decoded JSON answer.

    Raises `ServingError` with TF Serving's message on an HTTP error.
    """
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", errors="replace")
        try:
            message = json.loads(text).get("error", text)
        except ValueError:
            message = text
        raise ServingError(f"HTTP {e.code}: {message}") from None


def predict(
    inputs,
    model,
    host="localhost",
    port=8501,
    signature_name=None,
    version=None,
    form="row",
    output_name="output",
    timeout=30.0,
):
    """Sends one predict request; returns `{output name: nested list}`."""
    build = row_request if form == "row" else columnar_request
    body = build(inputs, signature_name)
    answer = post(predict_url(host, port, model, version), body, timeout)
    return parse_response(answer, output_name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("texts", nargs="*", help="Texts to send.")
    parser.add_argument("--model", required=True, help="TF Serving NAME.")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--signature", default=None)
    parser.add_argument("--format", choices=("row", "columnar"), default="row")
    parser.add_argument(
        "--ids",
        action="append",
        default=None,
        help="A row of space-separated token ids (repeatable); sends "
        "token_ids and padding_mask instead of text.",
    )
    args = parser.parse_args(argv)
    if args.ids:
        rows = [[int(t) for t in row.split()] for row in args.ids]
        length = max(len(r) for r in rows)
        inputs = {
            "token_ids": [r + [0] * (length - len(r)) for r in rows],
            "padding_mask": [
                [1] * len(r) + [0] * (length - len(r)) for r in rows
            ],
        }
    else:
        inputs = {"text": args.texts}
    try:
        outputs = predict(
            inputs,
            args.model,
            host=args.host,
            port=args.port,
            signature_name=args.signature,
            version=args.version,
            form=args.format,
        )
    except (ServingError, urllib.error.URLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(outputs, indent=2, default=repr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
