"""The Python mirror of `cairn buckets prewarm` and `settings --regions`,
against the origin and node tests/region/run.sh started. Prints "ok NAME"
or "FAIL NAME: why" lines; run.sh counts them."""

import os
import sys

import urllib.request

import cairn

failed = 0


def check(name, cond, why=""):
    global failed
    if cond:
        print("ok py: " + name)
    else:
        failed += 1
        print("FAIL py: %s: %s" % (name, why))


def raises(exc, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except exc:
        return True
    except Exception as e:  # the wrong kind
        print("  (raised %r)" % (e,))
        return False
    return False


origin, token, want, node = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def metric(base, name):
    for line in urllib.request.urlopen(base + "/metrics").read().decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise KeyError(name)

os.environ.pop("CAIRN_REGION", None)
c = cairn.Client(origin, token)
check("no region by default", c.region is None, c.region)
check("prewarm without a region refused",
      raises(cairn.InvalidArgument, c.prewarm, "alice/data/shards/"))
check("one of path/status/release", raises(cairn.InvalidArgument, c.prewarm))
seen = []
job = c.prewarm("alice/data/shards/", region="eu", wait=True, progress=seen.append)
check("prewarm waits until done", job.state == "done" and job.finished, job)
check("files staged", (job.files, job.files_done) == (3, 3), job)
check("xorbs staged", job.xorbs > 0 and job.xorbs == job.xorbs_done, job)
check("progress called", len(seen) >= 1 and seen[-1] == job, seen)
r = cairn.Client(origin, token, region="eu")
check("Client(region=)", r.region == "eu", r.region)
st = r.prewarm(status=job.job)
check("status through the client's region", st.job == job.job and st.state == "done", st)
check("a bad region name", raises(cairn.InvalidArgument, cairn.Client, origin, token,
                                  region="EU!"))
check("an unknown job", raises(cairn.NotFound, r.prewarm, status="0" * 32))
data = open(want, "rb").read()
reads, hits = metric(origin, "cairn_xorb_reads_total"), metric(node, "cairn_cache_hits_total")
got = r.read_range("alice/data/shards/a.bin", 1000, 2 << 20)
check("read_range through the region's node", got == data[1000:1000 + (2 << 20)])
check("... served by the node", metric(node, "cairn_cache_hits_total") > hits)
check("... with no xorb read at the origin", metric(origin, "cairn_xorb_reads_total") == reads)
b = c.update_bucket_settings("alice/data", regions=["eu"])
check("update_bucket_settings(regions=)", b.regions == ("eu",), b)
check("bucket_info shows them", c.bucket_info("alice/data").regions == ("eu",))
check("an unknown region in settings",
      raises(cairn.InvalidArgument, c.update_bucket_settings, "alice/data", regions="eu,mars"))
b = c.update_bucket_settings("alice/data", regions="")
check("regions cleared", b.regions == (), b)
rel = r.prewarm(release=job.job)
check("release", rel.state == "released", rel)
print("py: %d failed" % failed)
