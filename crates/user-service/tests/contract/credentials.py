"""Schemathesis hook of the contract test (run.sh): the credentials of every request, for
the security requirement the operation names (alternatives taken in turn). Schemathesis
drops hook auth when its config file has any, so all three schemes are set here.

The first pass sends the admin's token of the run; the second (CONTRACT_FRESH_LOGIN=1),
whose operations end the caller's session or identity, logs the admin in again for every
request, so no case's logout decides the next case's answer."""

import base64
import itertools
import json
import os
import urllib.request

import schemathesis

turns = itertools.count()


def login():
    body = json.dumps({"email": os.environ["CONTRACT_EMAIL"], "password": os.environ["CONTRACT_PASSWORD"]})
    request = urllib.request.Request(
        os.environ["CONTRACT_URL"] + "/v1/auth/login",
        data=body.encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


@schemathesis.auth(refresh_interval=None)
class Credentials:
    def get(self, case, context):
        requirements = case.operation.definition.raw.get("security") or [{}]
        # `{}` is the anonymous alternative of an operation whose token is optional.
        scheme = next(iter(requirements[next(turns) % len(requirements)]), None)
        if scheme is None:
            return None
        if scheme == "bearer":
            fresh = os.environ.get("CONTRACT_FRESH_LOGIN") == "1"
            return "Authorization", "Bearer " + (login() if fresh else os.environ["CONTRACT_BEARER"])
        if scheme == "api_key":
            return "X-API-Key", os.environ["CONTRACT_API_KEY"]
        pair = f"{os.environ['CONTRACT_CLIENT_ID']}:{os.environ['CONTRACT_CLIENT_SECRET']}"
        return "Authorization", "Basic " + base64.b64encode(pair.encode()).decode()

    def set(self, case, data, context):
        if data is not None:
            case.headers = case.headers or {}
            case.headers[data[0]] = data[1]
