def f(nums):  # << START_OF_TRACE
    total = 0
    for i, x in enumerate(nums):
        if x % 2 == 0:
            continue
        if x > 7:
            break
        total += x * i
    k = 0
    while k < 3:
        k += 1
    else:
        total -= k
    return total


# input: "[1, 2, 3, 9, 5]"
