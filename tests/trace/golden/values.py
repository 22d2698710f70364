def f(s):  # << START_OF_TRACE
    greeting = "héllo, " + s + " ☃"
    big = 3**200
    ratio = 1 / 3
    tags = {"red", "green", "blue"}
    pair = (ratio, None, True)
    raw = b"\x00\xff"
    return len(greeting), big % 1000, tags


# input: "'wörld'"
