"""Wav2Lip lip-sync engine: a native port of the network, its checkpoint loading and inference.

The network is rebuilt here (not imported from the original repository) so that
published `wav2lip.pth` / `wav2lip_gan.pth` files load as plain tensors and the
engine runs on the project's pinned torch without the original code's extras.
"""
