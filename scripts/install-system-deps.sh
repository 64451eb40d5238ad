#!/usr/bin/env bash
# System packages laura needs, installed with apt only when missing:
#   java      - pycocoevalcap's PTB tokenizer and METEOR (audio captioning scores)
#   espeak-ng - speech synthesis for the demo data and the mini corpus
#   sox       - audio conversion for the demo data and the mini corpus
set -euo pipefail
need=()
command -v java >/dev/null || need+=(default-jre-headless)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
if ((${#need[@]})); then
  echo "installing system packages: ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
