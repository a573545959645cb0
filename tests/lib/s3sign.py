# s3sign.py - SigV4 for the Python tests that make S3 requests by hand (so
# time, payload, framing and source address are theirs to choose):
# tests/s3/boto3_suite.py and tests/limits/run.py. Standard library only.
import datetime
import hashlib
import hmac
import urllib.parse


def enc(s, safe="-_.~"):
    """AWS's UriEncode of s (every byte but the unreserved ones and safe)."""
    return urllib.parse.quote(s, safe=safe)


def sha256hex(b):
    return hashlib.sha256(b).hexdigest()


def signing_key(secret, day, region="us-east-1"):
    k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sign_v4(method, path, params, headers, payload_hash, key, secret, hostport, when=None):
    """Add x-amz-date, x-amz-content-sha256, host (hostport) and Authorization
    to headers. path is percent-encoded as it goes on the wire; params is a
    list of (name, value) pairs. Returns (signing key, signature, date, scope)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    scope = amz[:8] + "/us-east-1/s3/aws4_request"
    headers["x-amz-date"] = amz
    headers["x-amz-content-sha256"] = payload_hash
    headers["host"] = hostport
    low = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    names = sorted(low)
    creq = "\n".join([
        method, path,
        "&".join("%s=%s" % (enc(k), enc(v)) for k, v in sorted(params)),
        "".join("%s:%s\n" % (n, low[n]) for n in names),
        ";".join(names), payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, sha256hex(creq.encode())])
    k = signing_key(secret, amz[:8])
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                                % (key, scope, ";".join(names), sig))
    return k, sig, amz, scope
