def f(n):  # << START_OF_TRACE
    if n <= 1:
        return 1
    return n * f(n - 1)


# input: "4"
