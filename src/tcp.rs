//! Real-network tools.
