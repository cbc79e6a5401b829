// Listen-in: a live call's audio in the supervisor's browser. The server sends ~200 ms chunks per
// channel (1 byte channel, float64 call time, 8 kHz 16-bit PCM); each is scheduled on one
// AudioContext at its call time plus a small jitter buffer, so both channels mix in step.
const RATE = 8000;
const HEADER = 9;
const JITTER_S = 0.3;           // how far ahead of "now" audio is scheduled when (re)anchoring

export class Listener {
  // startedAt: the call's start (server epoch s); serverOffset: server clock - this clock (s).
  constructor(callId, token, { onStatus = () => {}, startedAt = null, serverOffset = 0 } = {}) {
    Object.assign(this, { callId, token, onStatus, startedAt, serverOffset });
    this.stats = { chunks: 0, seconds: 0, reanchored: 0, lagS: null };
    this.anchor = null;           // [context time, call time] pairs the schedule is built on
  }

  async start() {
    this.ctx = new AudioContext();
    await this.ctx.resume();      // called from a click: allowed to play
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = (this.ws = new WebSocket(`${proto}://${location.host}/ws/calls/${encodeURIComponent(this.callId)}/listen`));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { ws.send(JSON.stringify({ type: "auth", token: this.token })); this.onStatus("listening"); };
    ws.onmessage = (msg) => { if (msg.data instanceof ArrayBuffer) this.play(msg.data); };
    ws.onclose = (close) => {
      if (this.stopped) return;
      this.onStatus(close.code === 1000 ? "ended" : "refused", close.code);
      this.ctx?.close();
    };
  }

  play(data) {
    const view = new DataView(data);
    const t = view.getFloat64(1, true);
    const pcm = new Int16Array(data.slice(HEADER));
    const buffer = this.ctx.createBuffer(1, pcm.length, RATE);
    const out = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i += 1) out[i] = pcm[i] / 32768;
    let when = this.anchor ? this.anchor[0] + (t - this.anchor[1]) : -1;
    if (when < this.ctx.currentTime + 0.02) {       // first chunk, or late: start again a little ahead
      this.anchor = [this.ctx.currentTime + JITTER_S, t];
      when = this.anchor[0];
      this.stats.reanchored += 1;
    }
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    source.start(when);
    this.stats.chunks += 1;
    this.stats.seconds += pcm.length / RATE;
    if (this.startedAt !== null) {
      // how far behind the call this chunk is heard: when it plays (server clock) minus when it was said
      const playsAt = Date.now() / 1000 + this.serverOffset + (when - this.ctx.currentTime);
      this.stats.lagS = playsAt - (this.startedAt + t);
    }
  }

  stop() {
    this.stopped = true;
    this.ws?.close(1000);
    this.ctx?.close();
  }
}
