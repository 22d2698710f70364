counter = 0


def bump():
    global counter
    counter += 1
    return counter


def f(xs):  # << START_OF_TRACE
    tmp = list(xs)
    del tmp[0]
    first = tmp[0]
    del tmp
    if first > 10:
        return "big"
    bump()
    return bump()


# input: "[5, 6, 7]"
