def square(x):
    return x * x


def norm(a, b):
    return square(a) + square(b)


def f(points):  # << START_OF_TRACE
    best = None
    for a, b in points:
        d = norm(a, b)
        if best is None or d < best:
            best = d
    return best


# input: "[(3, 4), (1, 1)]"
