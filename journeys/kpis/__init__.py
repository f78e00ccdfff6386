"""The figures marketers read (conversion, funnel, NPS, CLV): pure computations, no I/O."""
