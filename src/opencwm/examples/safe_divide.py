def parse(tok):
    if not tok.strip().lstrip("-").isdigit():
        raise ValueError(f"not a number: {tok!r}")
    return int(tok)


def safe_divide(pairs):  # << START_OF_TRACE
    out = []
    for a, b in pairs:
        try:
            out.append(parse(a) // parse(b))
        except ZeroDivisionError:
            out.append(None)
    return out


# input: "[('7', '2'), ('1', '0'), ('x', '3')]"
