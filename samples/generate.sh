#!/usr/bin/env bash
# Regenerates the sample media in samples/ (committed; a few KB each). Needs ffmpeg
# (apt-get install ffmpeg). Run from anywhere: paths are relative to this script.
set -euo pipefail
cd "$(dirname "$0")"
command -v ffmpeg >/dev/null || { echo "ffmpeg is needed: apt-get install -y ffmpeg" >&2; exit 1; }
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

mkdir -p media covers bad/folder.mp4
# Real media: one second each, tiny frames, low bitrates.
ff -f lavfi -i testsrc=size=64x36:rate=5 -t 1 -c:v libx264 -preset ultrafast -crf 45 -pix_fmt yuv420p -movflags +faststart -map_metadata -1 -fflags +bitexact media/ep1.mp4
ff -f lavfi -i testsrc2=size=64x36:rate=5 -t 1 -c:v libvpx -b:v 16k -map_metadata -1 -fflags +bitexact media/ep2.webm
ff -f lavfi -i smptebars=size=64x36:rate=5 -t 1 -c:v libx264 -preset ultrafast -crf 45 -pix_fmt yuv420p -movflags +faststart -map_metadata -1 -fflags +bitexact media/ep3.mp4
ff -f lavfi -i sine=frequency=440:duration=1 -c:a libmp3lame -b:a 16k -ar 22050 -map_metadata -1 -fflags +bitexact media/theme.mp3
ff -f lavfi -i sine=frequency=660:duration=1 -c:a libmp3lame -b:a 16k -ar 22050 -map_metadata -1 -fflags +bitexact media/jingle.mp3
# A real MP4 whose name has no extension (accepted; its type is sniffed).
cp media/ep3.mp4 media/trailer
# Distinct copies for the problems manifest (each row there should show only its own diagnostic).
mkdir -p media/more
for i in 1 2 3 4 5; do cp media/ep3.mp4 "media/more/m$i.mp4"; done
# Covers.
ff -f lavfi -i testsrc=size=64x36 -frames:v 1 -q:v 8 covers/ep1.jpg
ff -f lavfi -i testsrc2=size=64x36 -frames:v 1 covers/ep2.png
ff -f lavfi -i smptebars=size=64x36 -frames:v 1 covers/ep3.png

# Deliberately bad files.
cat > bad/error-page.mp4 <<'HTML'
<!DOCTYPE html>
<html><head><title>404 Not Found</title></head>
<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>
HTML
: > bad/empty.mp4
printf 'not a video\n' > bad/clip.xyz
printf 'this is a text file, not a JPEG\n' > bad/not-a-cover.jpg
touch bad/folder.mp4/.keep
ln -sfn ../../README.md bad/escape.mp4
echo "samples regenerated; update the md5 columns in good.csv/good.xml if the encoder changed:"
md5sum media/*.* media/trailer
