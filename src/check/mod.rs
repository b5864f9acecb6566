//! Oracles, generated scenarios, fuzz campaigns and shrinking.
