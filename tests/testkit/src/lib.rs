//! Real-process test harness: processes, readiness lines, network namespaces, peer configs.
