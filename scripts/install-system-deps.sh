#!/usr/bin/env bash
# System packages laura needs, installed with apt only when missing:
#   java      - pycocoevalcap's PTB tokenizer and METEOR (audio captioning scores)
#   espeak-ng - speech synthesis for the demo data and the mini corpus
#   g++       - builds the qwen2 backbone's fused CPU decode step on first use
#   python3-dev - Python's headers, for the wheels that build from source (webrtcvad, under Resemblyzer)
#   chromium  - the headless browser that the web page's tests drive (Playwright, with this executable)
#   the mini corpus material (laura prepare mini; Debian main):
#     asterisk-core-sounds-{en,es,fr}(-g722) - recorded telephone prompts and their transcripts
#     fillets-ng-data(-cs,-nl)               - game dialogue: lines, translations, Czech and Dutch voices
#     diatheke, sword-text-{web,sparv}       - Bible verses, English and Spanish
#     flite                                  - more synthetic voices
#     minetest-data, sound-theme-freedesktop, sonic-pi-samples - sounds for captioning and noise
set -euo pipefail
need=()
command -v java >/dev/null || need+=(default-jre-headless)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v g++ >/dev/null || need+=(g++)
command -v chromium >/dev/null || need+=(chromium)
"${PYTHON:-python3}" -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need+=(python3-dev)
mini=(
  asterisk-core-sounds-en asterisk-core-sounds-en-g722 asterisk-core-sounds-es asterisk-core-sounds-es-g722
  asterisk-core-sounds-fr asterisk-core-sounds-fr-g722 fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl
  diatheke sword-text-web sword-text-sparv flite minetest-data sound-theme-freedesktop sonic-pi-samples
)
for pkg in "${mini[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "installing system packages: ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
