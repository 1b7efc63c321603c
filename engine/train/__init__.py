"""Zero-reference training of the learned enhancers (SCI, Zero-DCE, Zero-DCE++).

Modules: :mod:`engine.train.losses` (published zero-reference losses),
:mod:`engine.train.data` (decoded, downscaled image cache and random crops),
:mod:`engine.train.loop` (the resumable, seeded training loop and checkpoint export),
:mod:`engine.train.evaluate` (the training-time quality check on synthetic pairs).
"""
