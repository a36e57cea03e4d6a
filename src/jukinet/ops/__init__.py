"""Operations: metrics, structured logs, health."""
