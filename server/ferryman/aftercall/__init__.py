"""After the call: the wrap-up drafted at hang-up (``wrapup``) and what it leaves for the next
call on the case (``history``)."""
