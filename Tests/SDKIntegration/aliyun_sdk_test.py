"""Alibaba's official Python SDKs against the vodingest emulator.

aliyun-python-sdk-core + aliyun-python-sdk-vod (signature V1) and alibabacloud-vod20170321
(signature V3, ACS3-HMAC-SHA256) call the VOD API, and oss2 uploads to OSS with the STS credentials
the API returned, unchanged but for the endpoint (protocol notes 6.4): a video with a cover
(CreateUploadImage, then CoverURL), a multipart video through oss2.resumable_upload with its CRC-64
checks on, RefreshUploadVideo, GetVideoInfo(s), GetMezzanineInfo, DeleteVideo. Then requests that
are wrong must be refused: a wrong secret, a replayed nonce, a parameter changed after signing, an
OSS key outside the STS scope, no security token, a wrong Content-MD5.

Run by scripts/sdk-test, which starts the emulator and passes its address and keys in the
environment (EMULATOR_URL, ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET).
Exits 1 on a failed check.
"""
import base64
import hashlib
import json
import os
import sys
import tempfile
import urllib.request

import oss2
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkvod.request.v20170321 import (CreateUploadImageRequest, CreateUploadVideoRequest, DeleteVideoRequest,
                                            GetMezzanineInfoRequest, GetVideoInfoRequest, GetVideoInfosRequest,
                                            RefreshUploadVideoRequest, UpdateVideoInfoRequest)
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_vod20170321 import models as vod_models
from alibabacloud_vod20170321.client import Client as VodClient

URL = os.environ["EMULATOR_URL"]
HOSTPORT = URL.split("://", 1)[1]
AK = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"]
SECRET = os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
REGION = "cn-shanghai"

failures = []
passed = 0


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
        print(f"  ok    {name}")
    else:
        failures.append(name)
        print(f"  FAIL  {name} {detail}")


# --- Protocol notes 6.4: point the unchanged SDKs at the emulator. ---------------------------------
client = AcsClient(AK, SECRET, REGION)
client.add_endpoint(REGION, "vod", HOSTPORT)


def call(request):
    return json.loads(client.do_action_with_exception(request))


def error_code(request):
    """The error code the emulator answers `request` with, or None when it succeeds."""
    try:
        call(request)
        return None
    except ServerException as e:
        return e.get_error_code()


def decode(b64):
    return json.loads(base64.b64decode(b64))


def bucket_for(answer):
    address, auth = decode(answer["UploadAddress"]), decode(answer["UploadAuth"])
    sts = oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"])
    # An IP endpoint: oss2 uses path style by itself.
    return oss2.Bucket(sts, address["Endpoint"], address["Bucket"], enable_crc=True), address, auth


def admin(path):
    return json.load(urllib.request.urlopen(URL + "/_emulator/" + path))


def fetch(url):
    return urllib.request.urlopen(url).read()


work = tempfile.mkdtemp()
video_bytes = b"\x00\x00\x00\x18ftypmp42" + os.urandom(300_000)
cover_bytes = b"\x89PNG\r\n\x1a\n" + os.urandom(2_000)
big_bytes = b"\x00\x00\x00\x18ftypmp42" + os.urandom(750_000)
with open(f"{work}/big.mp4", "wb") as f:
    f.write(big_bytes)

print("aliyun-python-sdk-core + aliyun-python-sdk-vod + oss2 (signature V1):")
# 1. The cover: CreateUploadImage, then a single put.
image = CreateUploadImageRequest.CreateUploadImageRequest()
image.set_ImageType("cover")
image.set_ImageExt("png")
answer = call(image)
cover_bucket, cover_address, _ = bucket_for(answer)
result = cover_bucket.put_object(cover_address["FileName"], cover_bytes)
check("cover PutObject with CRC-64 checked by oss2", result.status == 200 and result.crc is not None)
image_url = answer["ImageURL"]

# 2. The video with its metadata and the cover's URL.
create = CreateUploadVideoRequest.CreateUploadVideoRequest()
create.set_Title("SDK clip 测试")
create.set_FileName("/videos/My Clip (final).mp4")
create.set_FileSize(len(video_bytes))
create.set_Description("uploaded by the official SDK")
create.set_Tags("sdk,标签")
create.set_CateId(1000115308)
create.set_CoverURL(image_url)
create.set_UserData(json.dumps({"Extend": {"localId": "x-1"}}))
answer = call(create)
video_id = answer["VideoId"]
bucket, address, auth = bucket_for(answer)
check("UploadAddress and UploadAuth decode with the documented fields",
      {"Endpoint", "Bucket", "FileName"} <= set(address) and {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration", "ExpireUTCTime"} <= set(auth))
result = bucket.put_object(address["FileName"], video_bytes)
check("video PutObject", result.status == 200)
get = GetVideoInfoRequest.GetVideoInfoRequest()
get.set_VideoId(video_id)
video = call(get)["Video"]
check("GetVideoInfo: status past Uploading, every field kept",
      video["Status"] in ("UploadSucc", "Normal") and video["Title"] == "SDK clip 测试" and video["Tags"] == "sdk,标签"
      and video["CateId"] == 1000115308 and video["CoverURL"] == image_url and json.loads(video["UserData"])["Extend"]["localId"] == "x-1",
      json.dumps(video, ensure_ascii=False))
# UpdateVideoInfo: the fields given change, the others stay; the CreateUploadVideo rules apply.
update = UpdateVideoInfoRequest.UpdateVideoInfoRequest()
update.set_VideoId(video_id)
update.set_Description("Set after the upload")
update.set_Tags("a,b")
call(update)
updated = call(get)["Video"]
check("UpdateVideoInfo sets Description and Tags and keeps the Title",
      updated["Description"] == "Set after the upload" and updated["Tags"] == "a,b" and updated["Title"] == "SDK clip 测试",
      json.dumps(updated, ensure_ascii=False))
too_many = UpdateVideoInfoRequest.UpdateVideoInfoRequest()
too_many.set_VideoId(video_id)
too_many.set_Tags(",".join(str(i) for i in range(17)))
code = error_code(too_many)
check("UpdateVideoInfo refuses 17 tags (TagsExceededMax)", code == "TagsExceededMax", code)
missing_video = UpdateVideoInfoRequest.UpdateVideoInfoRequest()
missing_video.set_VideoId("00000000000000000000000000000000")
missing_video.set_Title("x")
code = error_code(missing_video)
check("UpdateVideoInfo of an unknown VideoId is InvalidVideo.NotFound", code == "InvalidVideo.NotFound", code)
# The later checks expect the created tags again.
restore = UpdateVideoInfoRequest.UpdateVideoInfoRequest()
restore.set_VideoId(video_id)
restore.set_Tags("sdk,标签")
call(restore)
mezzanine_request = GetMezzanineInfoRequest.GetMezzanineInfoRequest()
mezzanine_request.set_VideoId(video_id)
mezzanine = call(mezzanine_request)["Mezzanine"]
check("GetMezzanineInfo: Normal, the bytes sent", mezzanine["Status"] == "Normal" and fetch(mezzanine["FileURL"]) == video_bytes)
check("the cover URL serves the cover", fetch(image_url) == cover_bytes)

# 3. Multipart through oss2's resumable upload (100 KB parts, CRC-64 of parts and whole checked).
create = CreateUploadVideoRequest.CreateUploadVideoRequest()
create.set_Title("SDK multipart")
create.set_FileName("big.mp4")
answer = call(create)
big_id = answer["VideoId"]
bucket, address, _ = bucket_for(answer)
# A refresh mid-way: the same object, new credentials (protocol notes 2.4).
refresh = RefreshUploadVideoRequest.RefreshUploadVideoRequest()
refresh.set_VideoId(big_id)
refreshed = call(refresh)
bucket2, address2, auth2 = bucket_for(refreshed)
check("RefreshUploadVideo: same address, new credentials", address2 == address and auth2["AccessKeyId"] != auth["AccessKeyId"])
oss2.resumable_upload(bucket2, address["FileName"], f"{work}/big.mp4", store=oss2.ResumableStore(root=work),
                      multipart_threshold=200 * 1024, part_size=100 * 1024, num_threads=2)
counters = admin("counters")
check("multipart: initiate, 8 parts, complete", counters["cosRequests"].get("oss.UploadPart", 0) == 8
      and counters["cosRequests"].get("oss.CompleteMultipartUpload", 0) == 1, json.dumps(counters["cosRequests"]))
mezzanine_request.set_VideoId(big_id)
check("multipart mezzanine holds the bytes", fetch(call(mezzanine_request)["Mezzanine"]["FileURL"]) == big_bytes)
infos = GetVideoInfosRequest.GetVideoInfosRequest()
infos.set_VideoIds(f"{video_id},{big_id},0000000000000000000000000000dead")
listed = call(infos)
check("GetVideoInfos: both, and the unknown id", len(listed["VideoList"]) == 2 and listed["NonExistVideoIds"] == ["0000000000000000000000000000dead"])

# OSS signature V4 (oss2 auth_version='v4'): the same STS credentials, another signature.
create = CreateUploadVideoRequest.CreateUploadVideoRequest()
create.set_Title("SDK OSS V4")
create.set_FileName("v4.mp4")
answer = call(create)
address, auth = decode(answer["UploadAddress"]), decode(answer["UploadAuth"])
v4 = oss2.Bucket(oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"], auth_version="v4"),
                 address["Endpoint"], address["Bucket"], region=REGION)
result = v4.put_object(address["FileName"], video_bytes)
check("OSS V4 (OSS4-HMAC-SHA256) PutObject", result.status == 200)
try:
    oss2.Bucket(oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"][::-1], auth["SecurityToken"], auth_version="v4"),
                address["Endpoint"], address["Bucket"], region=REGION).put_object(address["FileName"], b"x")
    check("OSS V4 with a wrong secret is refused", False)
except oss2.exceptions.OssError as e:
    check("OSS V4 with a wrong secret is refused (SignatureDoesNotMatch)", e.code == "SignatureDoesNotMatch", f"{e.status} {e.code}")

print("alibabacloud-vod20170321 (signature V3, ACS3-HMAC-SHA256):")
v3 = VodClient(open_api_models.Config(access_key_id=AK, access_key_secret=SECRET, endpoint=HOSTPORT, protocol="http", region_id=REGION))
created = v3.create_upload_video(vod_models.CreateUploadVideoRequest(title="V3 clip", file_name="v3.mp4", reference_id="sdk-v3-ref-0001"))
v3_id = created.body.video_id
bucket, address, _ = bucket_for({"UploadAddress": created.body.upload_address, "UploadAuth": created.body.upload_auth})
bucket.put_object(address["FileName"], video_bytes)
by_reference = v3.get_video_info(vod_models.GetVideoInfoRequest(reference_id="sdk-v3-ref-0001"))
check("V3: CreateUploadVideo, then GetVideoInfo by ReferenceId", by_reference.body.video.video_id == v3_id)

print("refused:")
wrong = AcsClient(AK, SECRET[::-1], REGION)
wrong.add_endpoint(REGION, "vod", HOSTPORT)
try:
    wrong.do_action_with_exception(GetVideoInfoRequest.GetVideoInfoRequest())
    check("a wrong secret is refused", False)
except ServerException as e:
    # aliyunsdkcore rewrites SignatureDoesNotMatch to InvalidAccessKeySecret when the server signed the same string.
    check("a wrong secret is refused", e.get_error_code() in ("InvalidAccessKeySecret", "SignatureDoesNotMatch"), e.get_error_code())

signed = GetVideoInfoRequest.GetVideoInfoRequest()
signed.set_VideoId(video_id)
path = signed.get_url(REGION, AK, SECRET)
first = requests.post("http://" + HOSTPORT + path)
again = requests.post("http://" + HOSTPORT + path)
check("a signed request works once", first.status_code == 200, first.text)
check("the same nonce again is SignatureNonceUsed", again.status_code == 400 and again.json()["Code"] == "SignatureNonceUsed", again.text)
signed = GetVideoInfoRequest.GetVideoInfoRequest()
signed.set_VideoId(video_id)
tampered = signed.get_url(REGION, AK, SECRET).replace(video_id, big_id)
response = requests.post("http://" + HOSTPORT + tampered)
check("a parameter changed after signing is SignatureDoesNotMatch",
      response.status_code == 400 and response.json()["Code"] == "SignatureDoesNotMatch", response.text)

create = CreateUploadVideoRequest.CreateUploadVideoRequest()
create.set_Title("scoped")
create.set_FileName("scoped.mp4")
answer = call(create)
scoped_id = answer["VideoId"]
bucket, address, auth = bucket_for(answer)
for name, attempt, code in [
    ("a key outside the STS scope", lambda: bucket.put_object("sv/other/other.mp4", b"x"), "AccessDenied"),
    ("no security token", lambda: oss2.Bucket(oss2.Auth(auth["AccessKeyId"], auth["AccessKeySecret"]), address["Endpoint"], address["Bucket"])
        .put_object(address["FileName"], b"x"), "InvalidSecurityToken"),
    ("a wrong Content-MD5", lambda: bucket.put_object(address["FileName"], b"abc", headers={"Content-MD5": base64.b64encode(hashlib.md5(b"abd").digest()).decode()}), "InvalidDigest"),
]:
    try:
        attempt()
        check(f"{name} is refused", False)
    except oss2.exceptions.OssError as e:
        check(f"{name} is refused ({code})", e.code == code, f"{e.status} {e.code}")
get.set_VideoId(scoped_id)
check("after the refused writes the video is still Uploading", call(get)["Video"]["Status"] == "Uploading")

delete = DeleteVideoRequest.DeleteVideoRequest()
delete.set_VideoIds(scoped_id)
call(delete)
names = sorted(v["title"] for v in admin("videos"))
check("DeleteVideo removed it; the catalogue holds exactly the uploaded videos", names == ["SDK OSS V4", "SDK clip 测试", "SDK multipart", "V3 clip"], names)

print(f"aliyun SDK checks: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
