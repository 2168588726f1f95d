"""MKR on diffusers: script prior, MR-LoRA motion distillation and reference inversion.

Modules import diffusers and torch inside functions, so importing this package is light.
"""
