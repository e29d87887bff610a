"""Small programs that several test modules differentiate."""
import ad.numpy as anp


def stacked_trajectory(x, steps: int):
    """sum of s_k^2 over a recurrence s_k = 0.99 sin(s_{k-1}), its states stacked: `steps`
    pieces into one concatenate."""
    states = []
    for _ in range(steps):
        x = anp.sin(x) * 0.99
        states.append(x)
    return anp.sum(anp.stack(states) ** 2)
