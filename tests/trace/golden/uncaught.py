def lookup(d, key):
    return d[key]


def f(d):  # << START_OF_TRACE
    a = lookup(d, "a")
    b = lookup(d, "b")
    return a + b


# input: "{'a': 1}"
