// The Live page's player: a receive-only WebRTC connection to the page's live session, and the sentence box.
//
// It speaks Streamlit's component protocol itself (window.postMessage): it says it is ready, takes the page's
// arguments on each render, and hands values back. The page sees two values, each once: the connection's offer
// (answered by the server and passed back as the `answer` argument), or a problem ("no-webrtc": this browser has
// no RTCPeerConnection; "failed": the connection did not come up in time, or dropped). What is typed and Stop go
// over the connection's data channel straight to the session, never through a rerun of the page.
"use strict";

const video = document.getElementById("video");
const form = document.getElementById("say");
const text = document.getElementById("text");
const send = document.getElementById("send");
const stop = document.getElementById("stop");
const status = document.getElementById("status");

let args = {};
let peer = null;
let channel = null;
let started = false;
let answered = false;
let connected = false;
let reported = false;
let nextId = 1;
let waiting = null;

function post(type, data) {
  window.parent.postMessage({isStreamlitMessage: true, type, ...data}, "*");
}

function setValue(value) {
  post("streamlit:setComponentValue", {value, dataType: "json"});
}

function fitHeight() {
  post("streamlit:setFrameHeight", {height: Math.ceil(document.body.getBoundingClientRect().height) + 4});
}

function say(message, error = false) {
  status.textContent = message;
  status.classList.toggle("error", error);
}

function ready(open) {
  for (const control of [text, send, stop]) control.disabled = !open;
}

// The page ends the session and says why, in one sentence (st.error); the player only reports it, once.
function report(problem) {
  if (reported) return;
  reported = true;
  clearTimeout(waiting);
  ready(false);
  say("The live connection is not working.", true);
  if (peer) peer.close();
  setValue({problem});
}

// Frames and sound are shown as they arrive: the least jitter buffer the browser allows (the server sends each
// frame at its due time, on one clock for picture and sound).
function lowLatency(receiver) {
  const delay = Number(args.playout_delay_ms || 0);
  try { if ("jitterBufferTarget" in receiver) receiver.jitterBufferTarget = delay; } catch (e) { /* not supported */ }
  try { receiver.playoutDelayHint = delay / 1000; } catch (e) { /* not supported */ }
}

function play() {
  video.muted = false;
  video.play().catch(() => {
    // No click reached this page yet (a reload): play without sound until the video is clicked.
    video.muted = true;
    video.play().catch(() => {});
    say("Click the video to hear the avatar.");
    video.addEventListener("click", () => { video.muted = false; video.play(); say("Live."); }, {once: true});
  });
}

function gathered(connection) {
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((done) => {
    const check = () => connection.iceGatheringState === "complete" && done();
    connection.addEventListener("icegatheringstatechange", check);
    setTimeout(done, 3000); // a host without every candidate still reaches a server on its own network
  });
}

function opened() {
  ready(true);
  say("Live.");
  text.focus();
}

function replied(event) {
  let reply = {};
  try { reply = JSON.parse(event.data); } catch (e) { return; }
  if (reply.error) say(reply.error, true);
  else if (reply.said) say(reply.said.length === 1 ? "Queued." : `Queued ${reply.said.length} sentences.`);
  else if (reply.stopped) say("Stopped.");
}

async function start() {
  if (!window.RTCPeerConnection) {
    report("no-webrtc");
    return;
  }
  try {
    peer = new RTCPeerConnection({iceServers: []});
    peer.addTransceiver("video", {direction: "recvonly"});
    peer.addTransceiver("audio", {direction: "recvonly"});
    channel = peer.createDataChannel("live", {ordered: true});
    channel.onopen = opened;
    channel.onclose = () => ready(false);
    channel.onmessage = replied;
    const stream = new MediaStream();
    peer.ontrack = (event) => {
      lowLatency(event.receiver);
      stream.addTrack(event.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      play();
    };
    peer.onconnectionstatechange = () => {
      if (peer.connectionState === "connected") {
        connected = true;
        clearTimeout(waiting);
      } else if (peer.connectionState === "failed") {
        report("failed");
      }
    };
    await peer.setLocalDescription(await peer.createOffer());
    await gathered(peer);
    const nonce = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    setValue({offer: {sdp: peer.localDescription.sdp, type: peer.localDescription.type}, nonce});
    waiting = setTimeout(() => connected || report("failed"), Number(args.connect_wait_ms || 12000));
  } catch (problem) {
    console.error("live player:", problem);
    report("failed");
  }
}

async function answer(description) {
  if (answered || !peer || peer.signalingState !== "have-local-offer") return;
  answered = true;
  try {
    await peer.setRemoteDescription(description);
  } catch (problem) {
    console.error("live player:", problem);
    report("failed");
  }
}

function rendered(event) {
  if (!event.data || event.data.type !== "streamlit:render") return;
  args = event.data.args || {};
  const theme = event.data.theme;
  if (theme) {
    const root = document.documentElement.style;
    if (theme.textColor) root.setProperty("--text", theme.textColor);
    if (theme.backgroundColor) root.setProperty("--background", theme.backgroundColor);
    if (theme.primaryColor) root.setProperty("--primary", theme.primaryColor);
    if (theme.font) document.body.style.fontFamily = theme.font;
  }
  if (!started) {
    started = true;
    start();
  }
  if (args.answer) answer(args.answer);
  fitHeight();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!channel || channel.readyState !== "open") return;
  channel.send(JSON.stringify({id: nextId++, say: text.value}));
  text.value = "";
});

stop.addEventListener("click", () => {
  if (channel && channel.readyState === "open") channel.send(JSON.stringify({id: nextId++, stop: true}));
});

window.addEventListener("message", rendered);
video.addEventListener("loadedmetadata", fitHeight);
new ResizeObserver(fitHeight).observe(document.body);
post("streamlit:componentReady", {apiVersion: 1});
