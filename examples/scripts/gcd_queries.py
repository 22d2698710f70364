def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


q = int(input())
for _ in range(q):
    a, b = map(int, input().split())
    print(gcd(a, b))
