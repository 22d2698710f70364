n, target = map(int, input().split())
nums = list(map(int, input().split()))
seen = {}
answer = (-1, -1)
for i, x in enumerate(nums[:n]):
    if target - x in seen:
        answer = (seen[target - x] + 1, i + 1)
        break
    seen[x] = i
print(*answer)
