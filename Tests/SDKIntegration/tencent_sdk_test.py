"""The vendors' official Python SDKs against the vodingest emulator.

vod-python-sdk (VodUploadClient: ApplyUpload, COS upload through cos-python-sdk-v5, CommitUpload)
and tencentcloud-sdk-python (DescribeMediaInfos, SearchMedia, DeleteMedia, PullEvents,
ConfirmEvents) run unchanged but for the endpoint, which is monkeypatched exactly as section 5.5 of
the Tencent protocol notes shows. Then requests altered after signing must be refused.

Run by scripts/sdk-test, which starts the emulator and passes its address and key in the
environment (EMULATOR_URL, TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY). Exits 1 on a failed check.
"""
import hashlib
import time
import json
import os
import sys
import tempfile
import types
import urllib.error
import urllib.request

import requests
import qcloud_vod.vod_upload_client as vuc
from qcloud_cos import CosConfig as _CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError
from qcloud_vod.model import VodUploadRequest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.vod.v20180717 import models, vod_client

URL = os.environ["EMULATOR_URL"]
HOSTPORT = URL.split("://", 1)[1]
PORT = int(HOSTPORT.rsplit(":", 1)[1])
SECRET_ID = os.environ["TENCENTCLOUD_SECRET_ID"]
SECRET_KEY = os.environ["TENCENTCLOUD_SECRET_KEY"]
REGION = "ap-guangzhou"

# --- Section 5.5: point the unchanged SDKs at the emulator. ---------------------------------------
def profile():
    return ClientProfile(httpProfile=HttpProfile(endpoint=HOSTPORT, protocol="http"))

class LoopVodClient(vod_client.VodClient):
    def __init__(self, cred, region, profile_=None):
        super().__init__(cred, region, profile())

vuc.vod_client = types.SimpleNamespace(VodClient=LoopVodClient)
vuc.CosConfig = lambda **kw: _CosConfig(Scheme="http", IP="127.0.0.1", Port=PORT, **kw)

# --- A man in the middle: alters a request after the SDK has signed it. --------------------------
_send = requests.Session.request
tamper = {"fn": None}

def _request(self, method, url, **kw):
    if tamper["fn"] is not None:
        method, url, kw = tamper["fn"](method, url, kw)
    return _send(self, method, url, **kw)

requests.Session.request = _request

# --- Checks. -------------------------------------------------------------------------------------
failures = []

def check(name, condition, detail=""):
    print(("ok    " if condition else "FAIL  ") + name + ("" if condition else "  (%s)" % detail))
    if not condition:
        failures.append(name)

def api():
    return LoopVodClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION)

def call(action, params, client=None):
    client = client or api()
    request = getattr(models, action + "Request")()
    request.from_json_string(json.dumps(params))
    return json.loads(getattr(client, action)(request).to_json_string())

def api_error(action, params, client=None):
    try:
        call(action, params, client)
    except TencentCloudSDKException as e:
        return e.get_code()
    return None

def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()

def status(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code

def admin(path):
    return json.loads(fetch(URL + "/_emulator/" + path))

work = tempfile.mkdtemp(prefix="vodingest-sdk-")
def make(name, size, seed):
    path = os.path.join(work, name)
    block = hashlib.sha256(seed.encode()).digest() * 32
    with open(path, "wb") as f:
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            f.write(chunk)
            written += len(chunk)
    return path

def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()

small = make("sdk-small.mp4", 300 * 1024, "small")
cover = make("sdk-small.jpg", 20 * 1024, "cover")
large = make("sdk-large.mov", 2 * 1024 * 1024 + 5, "large")  # the SDK's multipart case: 1 MiB, 1 MiB, 5 B

client = vuc.VodUploadClient(SECRET_ID, SECRET_KEY)

# 1. Simple upload with a cover.
request = VodUploadRequest()
request.MediaFilePath = small
request.CoverFilePath = cover
request.SourceContext = "sdk-test:small"
first = client.upload(REGION, request)
check("simple upload returns a 19-digit FileId", first.FileId.isdigit() and len(first.FileId) == 19, first.FileId)
check("MediaUrl serves the uploaded bytes", hashlib.md5(fetch(first.MediaUrl)).hexdigest() == md5(small))
check("CoverUrl serves the uploaded cover", hashlib.md5(fetch(first.CoverUrl)).hexdigest() == md5(cover))

# 2. Multipart upload (the SDK lists uploads, initiates, sends 3 parts, completes).
before = admin("counters")["cosRequests"]
request = VodUploadRequest()
request.MediaFilePath = large
request.SourceContext = "sdk-test:large"
request.ConcurrentUploadNumber = 3
second = client.upload(REGION, request)
after = admin("counters")["cosRequests"]
parts = after.get("UploadPart", 0) - before.get("UploadPart", 0)
check("multipart upload sends 3 parts", parts == 3, parts)
check("multipart upload checks for an upload to resume", after.get("ListMultipartUploads", 0) > before.get("ListMultipartUploads", 0))
check("multipart MediaUrl serves the uploaded bytes", hashlib.md5(fetch(second.MediaUrl)).hexdigest() == md5(large))

# 3. DescribeMediaInfos.
info = call("DescribeMediaInfos", {"FileIds": [first.FileId, second.FileId, "5285890000000000000"]})
by_id = {m["FileId"]: m for m in info["MediaInfoSet"]}
check("DescribeMediaInfos finds both", set(by_id) == {first.FileId, second.FileId}, list(by_id))
check("DescribeMediaInfos lists the unknown id", info["NotExistFileIdSet"] == ["5285890000000000000"], info["NotExistFileIdSet"])
m = by_id.get(second.FileId, {})
check("MetaData.Size and Md5 match the file",
      m.get("MetaData", {}).get("Size") == os.path.getsize(large) and m.get("MetaData", {}).get("Md5") == md5(large), m.get("MetaData"))
check("SourceContext reads back",
      m.get("BasicInfo", {}).get("SourceInfo", {}).get("SourceContext") == "sdk-test:large", m.get("BasicInfo", {}).get("SourceInfo"))
check("the media name defaults to the file's base name", m.get("BasicInfo", {}).get("Name") == "sdk-large", m.get("BasicInfo", {}).get("Name"))

# 3b. ModifyMediaInfo (tencentcloud-sdk-python's model): what ApplyUpload cannot carry, read back.
call("ModifyMediaInfo", {"FileId": first.FileId, "Description": "Set after commit", "AddTags": ["a", "b", "c"], "ClassId": 5,
                         "ExpireTime": "2031-01-02T03:04:05Z"})
call("ModifyMediaInfo", {"FileId": first.FileId, "DeleteTags": ["b"], "AddTags": ["d"]})
basic = call("DescribeMediaInfos", {"FileIds": [first.FileId]})["MediaInfoSet"][0]["BasicInfo"]
check("ModifyMediaInfo sets Description, tags, ClassId and ExpireTime",
      basic["Description"] == "Set after commit" and basic["TagSet"] == ["a", "c", "d"] and basic["ClassId"] == 5
      and basic["ExpireTime"] == "2031-01-02T03:04:05Z", basic)
call("ModifyMediaInfo", {"FileId": first.FileId, "ClearTags": 1})
check("ModifyMediaInfo ClearTags removes every tag",
      call("DescribeMediaInfos", {"FileIds": [first.FileId]})["MediaInfoSet"][0]["BasicInfo"]["TagSet"] == [])
check("ModifyMediaInfo refuses a Description over 128 characters",
      api_error("ModifyMediaInfo", {"FileId": first.FileId, "Description": "x" * 129}) == "InvalidParameterValue.Description")
check("ModifyMediaInfo refuses a tag in AddTags and DeleteTags",
      api_error("ModifyMediaInfo", {"FileId": first.FileId, "AddTags": ["z"], "DeleteTags": ["z"]}) == "InvalidParameter")
check("ModifyMediaInfo refuses more than 16 tags",
      api_error("ModifyMediaInfo", {"FileId": first.FileId, "AddTags": [str(i) for i in range(17)]}) == "InvalidParameterValue.Tags")
check("ModifyMediaInfo of an unknown FileId is ResourceNotFound.FileNotExist",
      api_error("ModifyMediaInfo", {"FileId": "5285890000000000000", "Name": "x"}) == "ResourceNotFound.FileNotExist")

# 4. SearchMedia.
found = call("SearchMedia", {"NamePrefixes": ["sdk-"], "Sort": {"Field": "CreateTime", "Order": "Asc"}, "Limit": 10})
check("SearchMedia by NamePrefixes finds both", found["TotalCount"] == 2 and
      [x["FileId"] for x in found["MediaInfoSet"]] == [first.FileId, second.FileId], found["TotalCount"])
found = call("SearchMedia", {"Names": ["large"]})
check("SearchMedia by Names (fuzzy) finds one", [x["FileId"] for x in found["MediaInfoSet"]] == [second.FileId])
found = call("SearchMedia", {"CreateTime": {"After": "2000-01-01T00:00:00Z", "Before": "2001-01-01T00:00:00Z"}})
check("SearchMedia by CreateTime excludes other times", found["TotalCount"] == 0, found["TotalCount"])
check("SearchMedia refuses Offset + Limit above 5000",
      api_error("SearchMedia", {"Offset": 4990, "Limit": 20}) == "InvalidParameterValue.Limit")

# 5. PullEvents / ConfirmEvents.
events = call("PullEvents", {})["EventSet"] or []
uploaded = sorted(e["FileUploadEvent"]["FileId"] for e in events if e["EventType"] == "NewFileUpload")
check("PullEvents hands out one NewFileUpload per commit", uploaded == sorted([first.FileId, second.FileId]), uploaded)
call("ConfirmEvents", {"EventHandles": [e["EventHandle"] for e in events]})
again = call("PullEvents", {})["EventSet"] or []
check("confirmed events are not pulled again", again == [], len(again))
check("a confirmed handle cannot be confirmed twice",
      api_error("ConfirmEvents", {"EventHandles": [events[0]["EventHandle"]]}) == "InvalidParameterValue.EventHandles")

# 5b. A Procedure: NewFileUpload names its task, ProcedureStateChanged follows (PROCESSING, then
# FINISH after the emulator's processing time) with the same TaskId and the SessionContext.
request = VodUploadRequest()
request.MediaFilePath = small
request.Procedure = "QuickTranscode"
request.SessionContext = "sdk-session"
third = client.upload(REGION, request)
seen = []
deadline = time.time() + 10
while time.time() < deadline and not any((e.get("ProcedureStateChangeEvent") or {}).get("Status") == "FINISH" for e in seen):
    batch = call("PullEvents", {})["EventSet"] or []
    seen += batch
    if batch:
        call("ConfirmEvents", {"EventHandles": [e["EventHandle"] for e in batch]})
    else:
        time.sleep(0.2)
upload_events = [e["FileUploadEvent"] for e in seen if e["EventType"] == "NewFileUpload" and e["FileUploadEvent"]["FileId"] == third.FileId]
task = upload_events[0]["ProcedureTaskId"] if upload_events else ""
check("NewFileUpload of a media with a Procedure names its ProcedureTaskId", task != "", upload_events)
changes = [e["ProcedureStateChangeEvent"] for e in seen if e["EventType"] == "ProcedureStateChanged"]
check("ProcedureStateChanged goes PROCESSING then FINISH for that task, with the SessionContext",
      [c["Status"] for c in changes] == ["PROCESSING", "FINISH"] and all(c["TaskId"] == task and c["FileId"] == third.FileId
                                                                        and c["SessionContext"] == "sdk-session" for c in changes), changes)

# 5c. An HLS package through the official VodUploadClient: ParseStreamingManifest of the master
# playlist and of each variant, ApplyUpload (m3u8), the playlist and every segment under the media's
# folder with the same temporary credentials, CommitUpload; every file is served next to MediaUrl.
os.makedirs(os.path.join(work, "pkg", "hi"))
with open(os.path.join(work, "pkg", "master.m3u8"), "w") as f:
    f.write("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nhi/index.m3u8\n")
with open(os.path.join(work, "pkg", "hi", "index.m3u8"), "w") as f:
    f.write("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns0.ts\n#EXTINF:4,\ns1.ts\n#EXT-X-ENDLIST\n")
segments = [make(os.path.join("pkg", "hi", "s%d.ts" % i), 50 * 1024 + i, "segment%d" % i) for i in range(2)]
before = admin("counters")
request = VodUploadRequest()
request.MediaFilePath = os.path.join(work, "pkg", "master.m3u8")
package = client.upload(REGION, request)
after = admin("counters")
check("the SDK parses both playlists with ParseStreamingManifest",
      after["apiCalls"].get("ParseStreamingManifest", 0) - before["apiCalls"].get("ParseStreamingManifest", 0) == 2, after["apiCalls"])
check("the SDK puts the playlist, the variant and both segments",
      after["cosRequests"].get("PutObject", 0) - before["cosRequests"].get("PutObject", 0) == 4, after["cosRequests"])
base = package.MediaUrl.rsplit("/", 1)[0]
check("every file of the package is served next to its MediaUrl",
      fetch(base + "/hi/index.m3u8").startswith(b"#EXTM3U") and all(fetch(base + "/hi/s%d.ts" % i) == open(p, "rb").read()
                                                                  for i, p in enumerate(segments)))
applied = call("ApplyUpload", {"MediaType": "m3u8", "MediaName": "sdk-incomplete"})
cert = applied["TempCertificate"]
cos = CosS3Client(vuc.CosConfig(Region=applied["StorageRegion"], SecretId=cert["SecretId"], SecretKey=cert["SecretKey"], Token=cert["Token"]))
cos.put_object(Bucket=applied["StorageBucket"], Key=applied["MediaStoragePath"][1:], Body=b"#EXTM3U\n#EXTINF:4,\nmissing.ts\n")
check("CommitUpload of a package whose segment is missing is ResourceNotFound",
      api_error("CommitUpload", {"VodSessionKey": applied["VodSessionKey"]}) == "ResourceNotFound")
events = call("PullEvents", {})["EventSet"] or []
call("ConfirmEvents", {"EventHandles": [e["EventHandle"] for e in events]})

# 6. DeleteMedia.
call("DeleteMedia", {"FileId": first.FileId})
info = call("DescribeMediaInfos", {"FileIds": [first.FileId]})
check("a deleted media no longer exists", info["NotExistFileIdSet"] == [first.FileId])
check("a deleted media's URL is gone", status(first.MediaUrl) == 404)
check("deleting it again is ResourceNotFound.FileNotExist",
      api_error("DeleteMedia", {"FileId": first.FileId}) == "ResourceNotFound.FileNotExist")
events = call("PullEvents", {})["EventSet"] or []
check("the deletion is an event", [e["EventType"] for e in events] == ["FileDeleted"], [e["EventType"] for e in events])
call("ConfirmEvents", {"EventHandles": [e["EventHandle"] for e in events]})

# 7. Refused: requests that do not carry a valid signature.
def alter_body(method, url, kw):
    kw["data"] = kw["data"].replace(b"sdk-tamper", b"sdk-tamped") if isinstance(kw["data"], bytes) else kw["data"].replace("sdk-tamper", "sdk-tamped")
    return method, url, kw

tamper["fn"] = alter_body
code = api_error("ApplyUpload", {"MediaType": "mp4", "MediaName": "sdk-tamper"})
tamper["fn"] = None
check("a VOD body changed after signing is refused (AuthFailure.SignatureFailure)", code == "AuthFailure.SignatureFailure", code)
wrong = LoopVodClient(credential.Credential(SECRET_ID, SECRET_KEY[::-1]), REGION)
code = api_error("ApplyUpload", {"MediaType": "mp4", "MediaName": "sdk-wrong-key"}, wrong)
check("a VOD request signed with the wrong key is refused", code == "AuthFailure.SignatureFailure", code)

applied = call("ApplyUpload", {"MediaType": "mp4", "MediaName": "sdk-cos-tamper"})
temp = applied["TempCertificate"]
key = applied["MediaStoragePath"][1:]
cos = CosS3Client(_CosConfig(Region=REGION, SecretId=temp["SecretId"], SecretKey=temp["SecretKey"], Token=temp["Token"],
                             Scheme="http", IP="127.0.0.1", Port=PORT))

def cos_error(action):
    try:
        action()
    except CosServiceError as e:
        return (e.get_status_code(), e.get_error_code())
    return None

def alter_path(method, url, kw):
    return method, url.replace("/f0.mp4", "/f1.mp4"), kw

tamper["fn"] = alter_path
code = cos_error(lambda: cos.put_object(Bucket=applied["StorageBucket"], Key=key, Body=b"x" * 1000))
tamper["fn"] = None
check("a COS PUT sent to another key than it signed is refused", code == (403, "SignatureDoesNotMatch"), code)
code = cos_error(lambda: cos.put_object(Bucket=applied["StorageBucket"], Key=key.replace("f0.mp4", "other.mp4"), Body=b"x" * 1000))
check("a COS PUT outside the temporary credential's keys is refused", code == (403, "AccessDenied"), code)
no_token = CosS3Client(_CosConfig(Region=REGION, SecretId=temp["SecretId"], SecretKey=temp["SecretKey"],
                                  Scheme="http", IP="127.0.0.1", Port=PORT))
code = cos_error(lambda: no_token.put_object(Bucket=applied["StorageBucket"], Key=key, Body=b"x" * 1000))
check("a COS PUT without the security token is refused", code is not None and code[0] == 403, code)
code = api_error("CommitUpload", {"VodSessionKey": applied["VodSessionKey"]})
check("nothing was stored by the refused requests (CommitUpload: ResourceNotFound)", code == "ResourceNotFound", code)

listing = admin("media")
check("the emulator's catalogue holds exactly the media left",
      [x["fileID"] for x in listing] == [second.FileId, third.FileId, package.FileId], [x["fileID"] for x in listing])

print("%d failed" % len(failures) if failures else "all SDK checks passed")
sys.exit(1 if failures else 0)
