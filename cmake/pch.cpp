// Anchors the precompiled header target; intentionally holds no code.
