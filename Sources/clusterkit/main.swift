print("clusterkit")
