def fib(n, memo):
    if n < 2:
        return n
    if n not in memo:
        memo[n] = fib(n - 1, memo) + fib(n - 2, memo)
    return memo[n]


def first_fibs(k):  # << START_OF_TRACE
    memo = {}
    return [fib(i, memo) for i in range(k)]


# input: "6"
