def evens(limit):
    n = 0
    while n < limit:
        yield n
        n += 2


def f(limit):  # << START_OF_TRACE
    out = []
    for v in evens(limit):
        out.append(v)
    return out


# input: "5"
