def f(words):  # << START_OF_TRACE
    lengths = {w: len(w) for w in words}
    long = [w.upper() for w in words if lengths[w] > 2]
    firsts = sorted({w[0] for w in words})
    total = sum(n for n in lengths.values())
    return long, firsts, total


# input: "['ant', 'bee', 'ox']"
