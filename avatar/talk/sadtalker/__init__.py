"""SadTalker as an animation engine: a native port of its inference path.

Audio -> expression and head-pose coefficients (`audio2exp`, `audio2pose`,
`coefficients`), the portrait's own 3DMM coefficients (`face3d`, `crop`), and a
keypoint-driven face renderer (`renderer`). Every network is proven against the
original code's numbers with seeded weights (tests/reference/sadtalker/).
"""
