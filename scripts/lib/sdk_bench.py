"""The vendors' official Python SDKs uploading a folder of files into the vodingest emulator, in
THREADS threads, as the reference `scripts/bench-ingest` prints beside the tool.

  python sdk_bench.py tencent|aliyun FOLDER THREADS

Tencent: vod-python-sdk's VodUploadClient.upload (ApplyUpload, cos-python-sdk-v5 simple or
multipart upload, CommitUpload) per file. Alibaba: aliyun-python-sdk-vod CreateUploadVideo, then
oss2 (put_object, or resumable_upload above 16 MiB with 16 MiB parts, CRC-64 on), as Alibaba's
upload SDK does. The endpoint is pointed at the emulator exactly as the SDK tests do (protocol
notes, Tencent 5.5 and Alibaba 6.4). Prints "files seconds" on stdout.
"""
import base64
import concurrent.futures
import json
import os
import sys
import tempfile
import time
import types

platform, folder, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
URL = os.environ["EMULATOR_URL"]
HOSTPORT = URL.split("://", 1)[1]
PORT = int(HOSTPORT.rsplit(":", 1)[1])
files = sorted(os.path.join(folder, name) for name in os.listdir(folder))

if platform == "tencent":
    import qcloud_vod.vod_upload_client as vuc
    from qcloud_cos import CosConfig as _CosConfig
    from qcloud_vod.model import VodUploadRequest
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vod.v20180717 import vod_client

    class LoopVodClient(vod_client.VodClient):
        def __init__(self, cred, region, profile_=None):
            super().__init__(cred, region, ClientProfile(httpProfile=HttpProfile(endpoint=HOSTPORT, protocol="http")))

    vuc.vod_client = types.SimpleNamespace(VodClient=LoopVodClient)
    vuc.CosConfig = lambda **kw: _CosConfig(Scheme="http", IP="127.0.0.1", Port=PORT, **kw)
    client = vuc.VodUploadClient(os.environ["TENCENTCLOUD_SECRET_ID"], os.environ["TENCENTCLOUD_SECRET_KEY"])

    def upload(path):
        request = VodUploadRequest()
        request.MediaFilePath = path
        request.MediaName = os.path.basename(path)
        return client.upload("ap-guangzhou", request).FileId
else:
    import oss2
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkvod.request.v20170321 import CreateUploadVideoRequest

    def upload(path):
        # One client per call: AcsClient is not documented as thread-safe.
        acs = AcsClient(os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "cn-shanghai")
        acs.add_endpoint("cn-shanghai", "vod", HOSTPORT)
        request = CreateUploadVideoRequest.CreateUploadVideoRequest()
        request.set_Title(os.path.basename(path))
        request.set_FileName(os.path.basename(path))
        answer = json.loads(acs.do_action_with_exception(request))
        address = json.loads(base64.b64decode(answer["UploadAddress"]))
        auth = json.loads(base64.b64decode(answer["UploadAuth"]))
        bucket = oss2.Bucket(oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"]),
                             address["Endpoint"], address["Bucket"], enable_crc=True)
        if os.path.getsize(path) > 16 << 20:
            with tempfile.TemporaryDirectory() as store:
                oss2.resumable_upload(bucket, address["FileName"], path, store=oss2.ResumableStore(root=store),
                                      multipart_threshold=16 << 20, part_size=16 << 20, num_threads=4)
        else:
            bucket.put_object_from_file(address["FileName"], path)
        return answer["VideoId"]

started = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    ids = list(pool.map(upload, files))
elapsed = time.monotonic() - started
assert len(set(ids)) == len(files), "every file got its own media id"
print(len(files), f"{elapsed:.3f}")
