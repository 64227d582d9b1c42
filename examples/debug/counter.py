"""Counts, and stops in the Python debugger at 3 and at every multiple of 10."""
import time

n = 0
while True:
    n += 1
    print(f"count {n}")
    if n == 3 or n % 10 == 0:
        breakpoint()  # procman attach counter: type `p n`, then `c`
    time.sleep(1)
