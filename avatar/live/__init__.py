"""Live sessions: a portrait that idles, and speaks what is typed, in real time.

`session.LiveSession` is one avatar on one clock (video frames and audio samples
due at fixed times); `capacity.LiveCapacity` says how many this machine keeps in
real time; `tracks` and `routes` carry a session to a browser over WebRTC.
"""
