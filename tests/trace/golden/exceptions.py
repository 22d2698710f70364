def parse(s):
    if not s.isdigit():
        raise ValueError("bad: " + s)
    return int(s)


def f(items):  # << START_OF_TRACE
    good = []
    for s in items:
        try:
            good.append(parse(s))
        except ValueError as e:
            msg = str(e)
        finally:
            n = len(good)
    return good, n


# input: "['12', 'x', '7']"
