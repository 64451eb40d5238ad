// The laura page: plain JavaScript, no build step. Talks to /api/tasks and /api/<task>.
"use strict";

const $ = (id) => document.getElementById(id);
let tasks = {};
const recorded = { audio: null, prompt: null };  // WAV blobs recorded from the microphone

async function init() {
  const response = await fetch("/api/tasks");
  const info = await response.json();
  for (const task of info.tasks) {
    tasks[task.name] = task;
    const option = document.createElement("option");
    option.value = task.name;
    option.textContent = `${task.name}: ${task.description}` + (task.available ? "" : " (no vocoder loaded)");
    option.disabled = !task.available;
    $("task").append(option);
  }
  const limits = info.limits;
  $("limits").textContent = `Limits: ${limits.max_upload_mb} MB per request, ${limits.max_seconds} s of audio, ` +
    `${limits.max_text} characters of text.`;
  $("task").addEventListener("change", showInputs);
  $("audio-file").addEventListener("change", () => { recorded.audio = null; preview($("audio-file").files[0]); });
  $("prompt-file").addEventListener("change", () => { recorded.prompt = null; });
  $("record").addEventListener("click", () => toggleRecording("audio", $("record"), $("record-state")));
  $("record-prompt").addEventListener("click", () => toggleRecording("prompt", $("record-prompt"), $("record-prompt-state")));
  $("run").addEventListener("click", run);
  showInputs();
}

function showInputs() {
  const task = tasks[$("task").value];
  if (!task) return;
  $("task-about").textContent = `${task.input} in, ${task.output === "codec" ? "audio" : "text"} out`;
  $("audio-input").hidden = task.input !== "audio";
  $("text-input").hidden = task.input !== "text";
  $("prompt-input").hidden = !task.prompt;
}

function preview(blob) {
  const player = $("input-audio");
  player.hidden = !blob;
  if (blob) player.src = URL.createObjectURL(blob);
}

async function run() {
  const name = $("task").value;
  const task = tasks[name];
  const form = new FormData();
  if (task.input === "audio") {
    const file = recorded.audio || $("audio-file").files[0];
    if (!file) return status("Choose an audio file or record one first.", true);
    form.append("audio", file, file.name || "recording.wav");
  } else {
    if (!$("text").value.trim()) return status("Type some text first.", true);
    form.append("text", $("text").value);
  }
  if (task.prompt) {
    const prompt = recorded.prompt || $("prompt-file").files[0];
    if (prompt) {
      form.append("prompt", prompt, prompt.name || "prompt.wav");
      form.append("prompt_text", $("prompt-text").value);
    }
  }
  $("run").disabled = true;
  status(`Running ${name}...`);
  const started = performance.now();
  try {
    const response = await fetch(`/api/${name}`, { method: "POST", body: form });
    const result = await response.json();
    if (!response.ok) return status(result.error || response.statusText, true);
    show(result);
    status(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  } catch (error) {
    status(`The server did not answer: ${error}`, true);
  } finally {
    $("run").disabled = false;
  }
}

function show(result) {
  $("output").hidden = false;
  const text = $("output-text"), audio = $("output-audio"), download = $("output-download");
  audio.hidden = download.hidden = result.type !== "audio";
  text.hidden = result.type === "audio" && result.duration > 0;
  if (result.type === "audio") {
    const bytes = Uint8Array.from(atob(result.wav), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
    audio.src = download.href = url;
    text.textContent = `${result.duration.toFixed(2)} s at ${result.sample_rate} Hz` +
      (result.duration === 0 ? " (an empty output: the model said nothing)" : "");
  } else if (result.type === "text") {
    text.textContent = result.text || "(an empty output)";
  } else if (result.type === "label") {
    text.textContent = result.label || "(an empty output)";
  } else if (result.type === "understanding") {
    const slots = result.slots.map((s) => `  ${s.type} = ${s.filler}`).join("\n");
    text.textContent = `intent: ${result.intent}` + (slots ? `\nslots:\n${slots}` : "");
  } else {
    text.textContent = JSON.stringify(result.record, null, 2);
  }
}

function status(message, error = false) {
  $("status").textContent = message;
  $("status").className = error ? "error" : "";
}

// -- recording: the microphone's samples as a 16-bit WAV (every browser records some other format) --

const recorders = {};

async function toggleRecording(slot, button, state) {
  if (recorders[slot]) {
    const blob = recorders[slot].stop();
    recorders[slot] = null;
    recorded[slot] = blob;
    button.textContent = slot === "audio" ? "Record" : "Record a prompt";
    state.textContent = `recorded ${((blob.size - 44) / 2 / recorderRate).toFixed(1)} s`;
    if (slot === "audio") preview(blob);
    return;
  }
  try {
    recorders[slot] = await record();
  } catch (error) {
    return status(`Cannot use the microphone: ${error}`, true);
  }
  button.textContent = "Stop";
  state.textContent = "recording...";
}

let recorderRate = 16000;

async function record() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext();
  recorderRate = context.sampleRate;
  const source = context.createMediaStreamSource(stream);
  const node = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  node.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
  source.connect(node);
  node.connect(context.destination);
  return {
    stop() {
      node.disconnect();
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      return wav(chunks, recorderRate);
    },
  };
}

function wav(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      view.setInt16(offset, Math.max(-1, Math.min(1, sample)) * 0x7fff, true);
      offset += 2;
    }
  }
  return new Blob([view], { type: "audio/wav" });
}

init();
