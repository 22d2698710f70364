import sys

n = int(sys.stdin.readline())
vals = [int(t) for t in sys.stdin.readline().split()]


def best(xs):
    return max(xs) - min(xs)


print(best(vals[:n]))
# stdin: "3\n4 10 1 99\n"
