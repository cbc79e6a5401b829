"""The phone systems' own ways of streaming call audio, received natively (docs/gateways/):

    freeswitch   mod_audio_fork / mod_audio_stream websocket   /ws/gateways/freeswitch
    twilio       Media Streams websocket                         /ws/gateways/twilio
    genesys      Genesys Cloud AudioHook websocket              /ws/gateways/genesys
    audiosocket  Asterisk AudioSocket TCP                       FERRYMAN_AUDIOSOCKET_PORT

Each module speaks one wire format and hands audio to the same call pipeline as our own ingest
socket (``session`` and ``ferryman.calls.feed``).
"""
