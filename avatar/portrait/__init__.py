"""Portraits generated from a prompt: `generate.generate_portrait` and its options (`options.PortraitOptions`)."""
